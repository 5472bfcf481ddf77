//! `hdgan train-data`: the linear GAN trained on a stream of real images (THEORY §8, real
//! data). The images are centred and scaled so the covariance's noise bulk has unit
//! variance (`eta_T = 1`); the reference subspace is their top-d principal subspace and the
//! estimated effective spectrum `Lam_l = lam_l - 1` its eigenvalues above the bulk. The
//! generator draws `c~` from an informed (`diag(Lam)`) or an isotropic (`(tr Lam / d) I`,
//! same total power) covariance. Alignment of span(V) with the reference is tracked as the
//! cosines of the principal angles and the Grassmann distance, for several seeds, beside
//! the reduced ODE (13) computed from the estimated spectrum, started from each seed's own
//! initial overlaps (with `--constraint orthonormal`, `V` kept orthonormal and the
//! orthonormal model's ODE).

use crate::{Control, InputError};
use anyhow::{Context, Result};
use hdgan_core::{DMat, MacroState, MultiState, Trajectory, grassmann_distance, principal_cosines};
use hdgan_data::{Colour, Dataset, ImageSet, ImageStream, Prepared};
use hdgan_macro_ode::{MultiForm, solve_multi};
use hdgan_macro_ode::{OdeKind, OdeOptions, solve};
use hdgan_micro_sim::{MultiSgda, RunControl, Schedule, fill_normals, run};
use hdgan_model::random::stream_rng;
use hdgan_model::{Constraint, FromData, LambdaValue, LatentConfig, Model, ModelConfig};
use rayon::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// What `hdgan train-data` was asked to do. `None` rates and horizon are derived from the
/// data (see [`TrainDataRequest::settings`]).
#[derive(Clone, Debug)]
pub struct TrainDataRequest {
    /// Which dataset.
    pub dataset: Dataset,
    /// Its file or folder.
    pub path: PathBuf,
    /// CIFAR-10 colour handling (ignored for the greyscale IDX sets).
    pub colour: Colour,
    /// Use only the first this many images.
    pub max_images: Option<usize>,
    /// Reference dimension d (generator columns).
    pub d: usize,
    /// Discriminator learning rate tau.
    pub tau: f64,
    /// Generator-to-discriminator rate ratio alpha = tau~ / tau (None: `tau eta^2 / Lam_1`,
    /// the middle of the informed generator's solvable interval for the top mode).
    pub alpha: Option<f64>,
    /// Generator noise variance eta_G.
    pub eta_g: f64,
    /// Final time T = steps / n (None: `40 / (tau~ Lam_d)`, forty generator time
    /// constants of the weakest reference mode: long enough for the ODE to settle or to
    /// show its long-time oscillation).
    pub t_end: Option<f64>,
    /// Number of recorded points.
    pub records: usize,
    /// Number of seeds per generator covariance.
    pub seeds: usize,
    /// Base seed.
    pub seed: u64,
    /// Generator covariances to train with.
    pub covariances: Vec<FromData>,
    /// Worker threads (None: one per core).
    pub threads: Option<usize>,
    /// How the generator's columns are constrained: each normalised on its own (the paper's
    /// model, default) or `V` kept orthonormal by Gram-Schmidt (THEORY §8).
    pub constraint: Constraint,
}

impl TrainDataRequest {
    /// The defaults for `dataset` at `path`: d = 2, tau = 0.2, eta_G = 3, 5 seeds, both
    /// covariances, rates and horizon from the data.
    pub fn new(dataset: Dataset, path: PathBuf) -> Self {
        Self {
            dataset,
            path,
            colour: Colour::Grey,
            max_images: None,
            d: 2,
            tau: 0.2,
            alpha: None,
            eta_g: 3.0,
            t_end: None,
            records: 100,
            seeds: 5,
            seed: 1,
            covariances: vec![FromData::Informed, FromData::Isotropic, FromData::Standard],
            threads: None,
            constraint: Constraint::Columns,
        }
    }

    /// The rates and horizon used with the estimated spectrum `lam` (descending):
    /// `(alpha, t_end)`.
    pub fn settings(&self, lam: &[f64]) -> (f64, f64) {
        let eta_sq = 0.5 * (1.0 + self.eta_g * self.eta_g);
        let alpha = self.alpha.unwrap_or(self.tau * eta_sq / lam[0]);
        let weakest = lam[lam.len() - 1].max(1e-12);
        let t_end = self.t_end.unwrap_or(40.0 / (alpha * self.tau * weakest));
        (alpha, t_end)
    }

    /// Checks every setting that does not need the data (flags named in errors).
    pub fn check(&self) -> Result<(), InputError> {
        let bad = |flag: &str, rule: &str| Err(InputError(format!("`{flag}` {rule}")));
        if self.d == 0 {
            return bad("--d", "must be >= 1");
        }
        if !(self.tau.is_finite() && self.tau > 0.0) {
            return bad("--tau", "must be a finite number > 0");
        }
        if let Some(a) = self.alpha
            && !(a.is_finite() && a > 0.0)
        {
            return bad("--alpha", "must be a finite number > 0");
        }
        if !(self.eta_g.is_finite() && self.eta_g >= 0.0) {
            return bad("--eta-g", "must be a finite number >= 0");
        }
        if let Some(t) = self.t_end
            && !(t.is_finite() && t > 0.0)
        {
            return bad("--t-end", "must be a finite number > 0");
        }
        if self.seeds == 0 {
            return bad("--seeds", "must be >= 1");
        }
        if self.records < 2 {
            return bad("--records", "must be >= 2");
        }
        crate::resources::check_threads(self.threads)?;
        if self.colour == Colour::Rgb && self.dataset != Dataset::Cifar10 {
            return Err(InputError(format!(
                "`--colour` applies to `--dataset cifar10` only; `--dataset {}` images are greyscale",
                self.dataset.name()
            )));
        }
        if self.covariances.is_empty() {
            return bad("--covariance", "must name at least one covariance");
        }
        Ok(())
    }
}

/// Alignment of one path: time, cosines of the principal angles (descending), their mean,
/// and the Grassmann distance.
#[derive(Clone, Debug, PartialEq)]
pub struct AlignmentCurve {
    /// Times.
    pub t: Vec<f64>,
    /// Cosines of the principal angles at each time.
    pub cosines: Vec<Vec<f64>>,
    /// Mean cosine at each time.
    pub mean_cos: Vec<f64>,
    /// Grassmann distance at each time.
    pub grassmann: Vec<f64>,
}

impl AlignmentCurve {
    fn from_overlaps(t: &[f64], ps: impl Iterator<Item = (DMat, DMat)>) -> Self {
        let mut c = Self {
            t: t.to_vec(),
            cosines: Vec::new(),
            mean_cos: Vec::new(),
            grassmann: Vec::new(),
        };
        for (p, s) in ps {
            let cos = principal_cosines(&p, &s).unwrap_or_else(|| vec![f64::NAN; p.rows()]);
            c.mean_cos.push(cos.iter().sum::<f64>() / cos.len() as f64);
            c.grassmann.push(grassmann_distance(&cos));
            c.cosines.push(cos);
        }
        c
    }

    /// The alignment of a simulated path.
    pub fn of_sim(t: &Trajectory<MultiState>) -> Self {
        Self::from_overlaps(
            &t.times,
            t.states.iter().map(|s| (s.p.clone(), s.s.clone())),
        )
    }

    /// The alignment of an ODE path.
    pub fn of_ode(t: &Trajectory) -> Self {
        Self::from_overlaps(
            &t.times,
            t.states.iter().map(|s| (s.p.clone(), s.s.clone())),
        )
    }

    /// Mean cosine averaged over the last `frac` of the recorded times (the final
    /// alignment, smoothed over the run's end).
    pub fn final_mean_cos(&self, frac: f64) -> f64 {
        let k = ((self.mean_cos.len() as f64 * frac).ceil() as usize).clamp(1, self.mean_cos.len());
        let tail = &self.mean_cos[self.mean_cos.len() - k..];
        tail.iter().sum::<f64>() / k as f64
    }
}

/// The runs for one generator covariance.
#[derive(Clone, Debug)]
pub struct CovarianceRuns {
    /// Informed or isotropic.
    pub covariance: FromData,
    /// The rate ratio `tau~ / tau` this covariance ran with (see [`data_model`]).
    pub alpha: f64,
    /// The generator's latent second moment (diagonal).
    pub lam_tilde: Vec<f64>,
    /// One simulated path per seed.
    pub sims: Vec<Trajectory<MultiState>>,
    /// Their alignment curves.
    pub sim_alignment: Vec<AlignmentCurve>,
    /// The ODE from each seed's initial overlaps, and its alignment.
    pub ode_alignment: Vec<AlignmentCurve>,
    /// Final alignment (mean cosine over the last 10% of the run) per seed.
    pub final_sim: Vec<f64>,
    /// The same for the ODE paths.
    pub final_ode: Vec<f64>,
}

/// What `hdgan train-data` produced.
#[derive(Clone, Debug)]
pub struct TrainDataOutcome {
    /// The data's preparation (spectrum, scale, reference).
    pub prepared: Arc<Prepared>,
    /// Images used.
    pub images: usize,
    /// The base rate ratio alpha (that of the informed generator; see [`data_model`]).
    pub alpha: f64,
    /// Final time.
    pub t_end: f64,
    /// Per generator covariance.
    pub runs: Vec<CovarianceRuns>,
    /// Wall-clock seconds of the training runs.
    pub seconds: f64,
}

/// Mean and sample standard deviation (0 for one value).
pub fn mean_sd(x: &[f64]) -> (f64, f64) {
    let sd = if x.len() > 1 {
        hdgan_core::stats::sd(x)
    } else {
        0.0
    };
    (hdgan_core::stats::mean(x), sd)
}

/// Loads and prepares the data of a request.
pub fn load(req: &TrainDataRequest) -> Result<(Arc<ImageSet>, Arc<Prepared>)> {
    let mut set = req
        .dataset
        .load(&req.path, req.colour)
        .map_err(|e| InputError(format!("{} data: {e}", req.dataset.name())))?;
    if let Some(m) = req.max_images {
        set = set.truncated(m);
    }
    let prep = Prepared::new(&set, req.d)
        .map_err(|e| InputError(format!("{} data: {e}", req.dataset.name())))?;
    Ok((Arc::new(set), Arc::new(prep)))
}

/// The model of a data run: n = pixels, p = 1, lambda = inf, eta_T = 1 (the scaled bulk),
/// the real latent `diag(Lam)` (used only by the ODE) and the generator's from `cov`.
/// The generator rate is `tau~ = alpha tau (tr Lam / tr Lam~)`: every covariance gets the
/// same generator speed `tau~ tr(Lam~) / d` (the generator's drift scales with its latent
/// power), so the standard latent `N(0, I)` is not merely slower; for informed and
/// power-matched isotropic covariances `tau~ = alpha tau`.
pub fn data_model(
    req: &TrainDataRequest,
    prep: &Prepared,
    alpha: f64,
    cov: FromData,
) -> Result<Model> {
    let base = data_model_at(req, prep, alpha, cov)?;
    let power = |l: &hdgan_model::Latent| l.second_moment().matrix().diag().iter().sum::<f64>();
    let factor = power(&base.latent) / power(&base.latent_tilde);
    if (factor - 1.0).abs() < 1e-12 {
        return Ok(base);
    }
    data_model_at(req, prep, alpha * factor, cov)
}

fn data_model_at(
    req: &TrainDataRequest,
    prep: &Prepared,
    alpha: f64,
    cov: FromData,
) -> Result<Model> {
    let lam = prep.effective();
    let mut c = ModelConfig::figure1(prep.n, 1.0);
    c.d = req.d;
    c.tau = req.tau;
    c.tau_tilde = alpha * req.tau;
    c.eta_t = 1.0;
    c.eta_g = req.eta_g;
    c.lambda = LambdaValue::default();
    c.constraint = req.constraint;
    c.latent = LatentConfig::diagonal(&lam);
    c.latent_tilde = Some(LatentConfig {
        cov: Vec::new(),
        mean: None,
        classes: Vec::new(),
        from_data: Some(cov),
    });
    Ok(c.validate("model").map_err(InputError::from)?)
}

/// The checks that need the data's spectrum, made before any training: the top `d`
/// eigenvalues exceed the bulk, the rates are finite, the schedule has at least one step,
/// and the memory estimate fits. Returns `(alpha, t_end, schedule)`.
pub fn check_with_data(
    req: &TrainDataRequest,
    prep: &Prepared,
) -> Result<(f64, f64, Schedule), InputError> {
    req.check()?;
    let lam = prep.effective();
    if lam.iter().any(|&l| l <= 0.0) {
        return Err(InputError(format!(
            "the top {} eigenvalues of the scaled covariance must exceed the bulk (1): estimated Lam = {lam:?}; lower --d",
            req.d
        )));
    }
    let (alpha, t_end) = req.settings(&lam);
    let tau_tilde = alpha * req.tau;
    if !(tau_tilde.is_finite() && tau_tilde > 0.0) {
        return Err(InputError(format!(
            "`--tau` {:e} and `--alpha` {alpha:e} give the generator rate tau~ = alpha tau = {tau_tilde:e}, which must be a finite number > 0",
            req.tau
        )));
    }
    if !(t_end.is_finite() && t_end > 0.0) {
        return Err(InputError(format!(
            "`--t-end`: the horizon {t_end:e} (default 40 / (tau~ Lam_d)) must be a finite number > 0; set --t-end"
        )));
    }
    let n = prep.n;
    let schedule = Schedule::from_times(n, t_end, t_end / req.records as f64).map_err(|e| {
        InputError(format!(
            "`--t-end` {t_end:e}: {}",
            e.to_string().trim_start_matches("sim.t_end ")
        ))
    })?;
    let runs = (req.seeds * req.covariances.len()) as f64;
    let records = (req.records + 2) as f64;
    let workers = req
        .threads
        .unwrap_or_else(rayon::current_num_threads)
        .min(req.seeds * req.covariances.len()) as f64;
    let mut e = crate::resources::Estimate::default();
    e.add(
        "n-dimensional state vectors",
        workers * (3 * req.d + 8) as f64,
        8.0 * n as f64,
    )
    .add(
        "recorded states and alignment curves",
        2.0 * runs * records,
        crate::resources::state_bytes(MultiState::packed_len(req.d, 1), 5)
            + crate::resources::row_bytes(req.d + 6),
    )
    .keys(&["--seeds", "--covariance", "--d"]);
    e.work = Some((runs * schedule.steps as f64, "SGDA steps".to_owned()));
    e.check()?;
    Ok((alpha, t_end, schedule))
}

/// Trains on the data: for each covariance and seed one run from random unit columns
/// (stream `(seed, member)`, the same initial weights for both covariances), plus the ODE
/// from every run's initial overlaps. Deterministic for a given request whatever the
/// thread count.
pub fn train(
    req: &TrainDataRequest,
    set: &Arc<ImageSet>,
    prep: &Arc<Prepared>,
    ctl: Control<'_>,
) -> Result<TrainDataOutcome> {
    let _span = tracing::info_span!("train_data", dataset = req.dataset.name()).entered();
    let (alpha, t_end, schedule) = check_with_data(req, prep)?;
    let n = prep.n;
    let started = Instant::now();
    let tasks: Vec<(usize, usize)> = (0..req.covariances.len())
        .flat_map(|c| (0..req.seeds).map(move |s| (c, s)))
        .collect();
    let models: Vec<Model> = req
        .covariances
        .iter()
        .map(|&c| data_model(req, prep, alpha, c))
        .collect::<Result<_>>()?;
    ctl.begin(
        &format!("train-data {}", req.dataset.name()),
        tasks.len() as u64 * schedule.steps,
        "steps",
    );
    let inc = |k: u64| ctl.advance(k);
    let work = || -> Result<Vec<Trajectory<MultiState>>> {
        tasks
            .par_iter()
            .map(|&(c, s)| {
                let m = &models[c];
                let mut rng = stream_rng(req.seed, s as u64);
                let (v0, w0) = random_columns(n, req.d, &mut rng);
                let stream = ImageStream::new(Arc::clone(set), Arc::clone(prep));
                let mut engine = MultiSgda::with_real_data(
                    m,
                    prep.reference.clone(),
                    v0,
                    w0,
                    Box::new(stream),
                    hdgan_micro_sim::DEFAULT_BLOWUP,
                )?;
                let control = RunControl {
                    progress: Some(&inc),
                    cancel: ctl.cancel,
                };
                let t = run(&mut engine, &mut rng, &schedule, control).with_context(|| {
                    format!(
                        "training run (covariance {:?}, seed {s})",
                        req.covariances[c]
                    )
                })?;
                Ok(t)
            })
            .collect()
    };
    let sims = crate::with_threads(req.threads, work)??;
    ctl.end();
    let seconds = started.elapsed().as_secs_f64();
    let opts = OdeOptions::default();
    let mut runs = Vec::new();
    for (c, &cov) in req.covariances.iter().enumerate() {
        let mine: Vec<Trajectory<MultiState>> = tasks
            .iter()
            .zip(&sims)
            .filter(|((ci, _), _)| *ci == c)
            .map(|(_, t)| t.clone())
            .collect();
        let m = &models[c];
        let sim_alignment: Vec<AlignmentCurve> = mine.iter().map(AlignmentCurve::of_sim).collect();
        let mut ode_alignment = Vec::new();
        for t in &mine {
            let one_column = || anyhow::anyhow!("a data run must have one discriminator column");
            let ode = if m.constraint == Constraint::Orthonormal {
                // The engine orthonormalised V before the first record: its overlaps
                // are the orthonormal model's start.
                solve_multi(m, MultiForm::Orthonormal, &t.states[0], &t.times, &opts)
                    .context("ODE from the estimated spectrum failed")?
                    .to_single()
                    .ok_or_else(one_column)?
            } else {
                let start: MacroState = t.states[0].to_single().ok_or_else(one_column)?;
                solve(m, OdeKind::Reduced, &start, &t.times, &opts)
                    .context("ODE from the estimated spectrum failed")?
            };
            ode_alignment.push(AlignmentCurve::of_ode(&ode));
        }
        let final_sim = sim_alignment
            .iter()
            .map(|a| a.final_mean_cos(0.1))
            .collect();
        let final_ode = ode_alignment
            .iter()
            .map(|a| a.final_mean_cos(0.1))
            .collect();
        runs.push(CovarianceRuns {
            covariance: cov,
            alpha: m.tau_tilde / m.tau,
            lam_tilde: m.latent_tilde.second_moment().matrix().diag(),
            sims: mine,
            sim_alignment,
            ode_alignment,
            final_sim,
            final_ode,
        });
    }
    Ok(TrainDataOutcome {
        prepared: Arc::clone(prep),
        images: set.count,
        alpha,
        t_end,
        runs,
        seconds,
    })
}

/// Random unit columns: `d` for V and one for w (Gaussian, normalised).
fn random_columns(
    n: usize,
    d: usize,
    rng: &mut hdgan_model::random::SimRng,
) -> (Vec<f64>, Vec<f64>) {
    let mut unit = |len: usize| {
        let mut v = vec![0.0; len];
        fill_normals(rng, &mut v);
        for col in v.chunks_exact_mut(n) {
            let norm = col.iter().map(|x| x * x).sum::<f64>().sqrt();
            col.iter_mut().for_each(|x| *x /= norm);
        }
        v
    };
    let v = unit(n * d);
    let w = unit(n);
    (v, w)
}

/// The name of a generator covariance in outputs.
pub fn cov_name(c: FromData) -> &'static str {
    match c {
        FromData::Informed => "informed",
        FromData::Isotropic => "isotropic",
        FromData::Standard => "standard",
    }
}
