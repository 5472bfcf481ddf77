//! `hdgan escape`: when the discriminator escapes from a feature it has not learned yet
//! (Figure 1's second stage), as a function of n, without simulating the n-dimensional
//! chain (THEORY §10, "Escape from the saddle").
//!
//! For each requested n it samples the escape times of the macroscopic diffusion
//! `dM = F dt + sqrt(D / n) dW` (cost independent of n). When the config starts with no
//! overlap with the escaping feature, it adds the large-n saddle law (mean growing like
//! `ln(n) / (2 kappa)`, spread `pi / (2 sqrt 2 kappa)`); when it starts with a residual
//! overlap, the ODE's own escape time (the large-n limit).

use crate::config::ValidRun;
use crate::fluctuations::check_config as check_lna;
use crate::{Control, Error, Result};
use hdgan_macro_ode::solve;
use hdgan_stability::{
    DiffusionEscape, DiffusionOptions, EscapeError, EscapeStats, SaddleLaw, diffusion_escape_times,
    escape_time, saddle_law,
};

/// What `hdgan escape` is asked for, besides the config.
#[derive(Clone, Debug, PartialEq)]
pub struct EscapeRequest {
    /// The sizes (each a finite real >= 1).
    pub sizes: Vec<f64>,
    /// Diffusion paths per size.
    pub paths: usize,
    /// The escaping feature, 1-based as in the papers (`q_f` leaves 0).
    pub feature: usize,
    /// The level of `|q_f|` that counts as escaped (0 < threshold < 1).
    pub threshold: f64,
    /// The diffusion's time step.
    pub dt: f64,
}

impl EscapeRequest {
    /// The defaults for a config with `d` features: n = 1e3, 1e4, 1e5, 1e6, 400 paths,
    /// feature `d` (the last, Figure 1's second), threshold 0.5, dt 0.01.
    pub fn defaults(d: usize) -> Self {
        Self {
            sizes: vec![1e3, 1e4, 1e5, 1e6],
            paths: 400,
            feature: d,
            threshold: hdgan_stability::ESCAPE_THRESHOLD,
            dt: 0.01,
        }
    }
}

/// One size's result.
#[derive(Clone, Debug, PartialEq)]
pub struct EscapeRow {
    /// The size.
    pub n: f64,
    /// The diffusion's escape times, one per path (None: not escaped by `sim.t_end`).
    pub times: Vec<Option<f64>>,
    /// Their statistics.
    pub stats: EscapeStats,
}

/// What `hdgan escape` computed.
#[derive(Clone, Debug)]
pub struct EscapeRun {
    /// The request, with its defaults filled in.
    pub request: EscapeRequest,
    /// One row per size, in the request's order.
    pub rows: Vec<EscapeRow>,
    /// The saddle law, when the start has no overlap with the feature.
    pub law: Option<SaddleLaw>,
    /// Why there is no saddle law, when there is none.
    pub law_absent: Option<String>,
    /// The ODE's own escape time from the config's start, if it escapes by `sim.t_end`.
    pub ode_escape: Option<f64>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Refuses what the computation cannot serve, naming the flag or config key: the configs
/// the fluctuation theory does not cover, sizes below 1 or not finite, no paths, a feature
/// outside 1..=d, a threshold outside (0, 1), a time step outside (0, 0.1].
pub fn check_request(valid: &ValidRun, req: &EscapeRequest) -> Result<()> {
    check_lna(valid, None)?;
    if req.sizes.is_empty() {
        return Err(Error::arg("--n", "needs at least one size"));
    }
    if let Some(n) = req.sizes.iter().find(|n| !(n.is_finite() && **n >= 1.0)) {
        return Err(Error::arg(
            "--n",
            format!(": every size must be a finite number >= 1, got {n}"),
        ));
    }
    if req.paths < 2 {
        return Err(Error::arg(
            "--paths",
            format!("must be at least 2 (a spread needs two), got {}", req.paths),
        ));
    }
    let d = valid.model().d();
    if !(1..=d).contains(&req.feature) {
        return Err(Error::arg(
            "--feature",
            format!("must be between 1 and model.d = {d}, got {}", req.feature),
        ));
    }
    if !(req.threshold > 0.0 && req.threshold < 1.0) {
        return Err(Error::arg(
            "--threshold",
            format!("must be in (0, 1) (a cosine level), got {}", req.threshold),
        ));
    }
    if !(req.dt > 0.0 && req.dt <= 0.1) {
        return Err(Error::arg(
            "--dt",
            format!("must be in (0, 0.1], got {}", req.dt),
        ));
    }
    Ok(())
}

/// Computes the escape law for `valid` (seed: the config's), up to `sim.t_end`.
pub fn escape_of(valid: &ValidRun, req: &EscapeRequest, control: Control) -> Result<EscapeRun> {
    check_request(valid, req)?;
    let start = std::time::Instant::now();
    let init = valid.init().macro_state();
    let model = valid.model();
    let f = req.feature - 1;
    let t_end = valid.sim().t_end;
    let fine: Vec<f64> = {
        // The ODE finely enough to place the escape to 1e-3.
        let steps = (t_end / 0.01).ceil() as usize;
        (0..=steps).map(|k| (k as f64 * 0.01).min(t_end)).collect()
    };
    let kind = hdgan_macro_ode::OdeKind::for_model(model);
    let ode = solve(model, kind, &init, &fine, &hdgan_stability::LNA_OPTIONS)
        .map_err(|e| Error::ode("the ODE from the config's start", e))?;
    let ode_escape = escape_time(&ode, f, req.threshold);
    let (law, law_absent) = match saddle_law(model, &init, f, req.threshold) {
        Ok(l) => (Some(l), None),
        Err(EscapeError::NotApplicable(why)) => (None, Some(why)),
        Err(e) => return Err(Error::escape("the saddle law", e)),
    };
    let opts = DiffusionOptions {
        dt: req.dt,
        t_max: t_end,
    };
    control.begin("diffusion escape times", req.sizes.len() as u64, "sizes");
    let mut rows = Vec::with_capacity(req.sizes.len());
    for (k, &n) in req.sizes.iter().enumerate() {
        if control.cancelled() {
            return Err(Error::Cancelled);
        }
        // Size k draws from seed + k 2^32: its own streams, so adding a size leaves the
        // others' draws alone.
        let seed = valid.seed().wrapping_add((k as u64) << 32);
        let escape = DiffusionEscape {
            n,
            paths: req.paths,
            seed,
            feature: f,
            threshold: req.threshold,
        };
        let times = diffusion_escape_times(model, &init, &escape, &opts)
            .map_err(|e| Error::escape(format!("the diffusion at n = {n}"), e))?;
        let stats = EscapeStats::of(&times);
        rows.push(EscapeRow { n, times, stats });
        control.advance(1);
    }
    control.end();
    Ok(EscapeRun {
        request: req.clone(),
        rows,
        law,
        law_absent,
        ode_escape,
        seconds: start.elapsed().as_secs_f64(),
    })
}
