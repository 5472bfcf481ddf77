//! `hdgan fluctuations`: the linear-noise approximation of a run config (THEORY §10)
//! without simulating: the ODE's path from the config's initial overlaps, the covariance
//! `Sigma(t)` of `sqrt(n) (M_k - M(k/n))` along it, and the band at a chosen n.

use crate::config::ValidRun;
use crate::{Error, Result};
use hdgan_stability::{Fluctuations, LNA_OPTIONS, LnaError, check_supported, switch_time};

/// What `hdgan fluctuations` computed.
#[derive(Clone, Debug)]
pub struct FluctuationRun {
    /// The n the band is drawn for (`--n`, else the config's `model.n`).
    pub n: usize,
    /// The path and `Sigma` at the config's record times.
    pub fl: Fluctuations,
    /// When the ODE's discriminator switches from feature 1 to feature 2 (d >= 2), if it
    /// does ([`switch_time`]).
    pub switch: Option<f64>,
    /// Wall-clock seconds of the computation.
    pub seconds: f64,
}

/// Refuses, as bad input naming the key, the configs the fluctuation theory does not cover
/// and an `n` of 0.
pub fn check_config(valid: &ValidRun, n: Option<usize>) -> Result<()> {
    if n == Some(0) {
        return Err(Error::arg("--n", "must be at least 1"));
    }
    if valid.model().needs_multi_engine() {
        return Err(Error::config(
            "model.p",
            "/ `model.constraint`: the fluctuation theory covers the single-feature model with column normalisation",
        ));
    }
    match check_supported(valid.model()) {
        Ok(()) => Ok(()),
        Err(LnaError::Unsupported { key, rule }) => Err(Error::config(key, format!(": {rule}"))),
        Err(e) => Err(Error::lna("the fluctuation theory's check", e)),
    }
}

/// Solves the ODE and `Sigma` from the config's initial overlaps at its record times
/// (tolerances [`LNA_OPTIONS`]); `n` (default `model.n`) sets the band's width only.
pub fn fluctuations_of(valid: &ValidRun, n: Option<usize>) -> Result<FluctuationRun> {
    check_config(valid, n)?;
    let n = n.unwrap_or(valid.model().n());
    let times = valid.schedule().record_times(valid.model().n());
    let start = std::time::Instant::now();
    let fl = hdgan_stability::fluctuations(
        valid.model(),
        &valid.init().macro_state(),
        &times,
        &LNA_OPTIONS,
    )
    .map_err(|e| Error::lna("the linear-noise approximation", e))?;
    let seconds = start.elapsed().as_secs_f64();
    let switch = if valid.model().d() >= 2 {
        switch_time(&fl.mean)
    } else {
        None
    };
    Ok(FluctuationRun {
        n,
        fl,
        switch,
        seconds,
    })
}
