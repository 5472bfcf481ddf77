//! The effective-covariance view (`hdgan modes`): a config's latents act only through
//! their effective second moments `M = E[c c^T]` and `M~`; their eigenpairs ("modes") and
//! each mode's solvable interval `tau eta^2 < lam_l <= 2 tau eta^2 + (1 - alpha) lam~_l`
//! say which features are learned. Optionally the run is simulated and seen in the mode
//! bases, classified mode by mode.

use crate::config::{ValidRun, model_only, read_file};
use crate::run::{ConfigSource, RunResult, RunSource, prepare, simulate};
use crate::{Control, Result};
use hdgan_core::Trajectory;
use hdgan_model::Model;
use hdgan_stability::{EffectiveModes, PhaseSummary, effective_modes, in_mode_basis};
use std::path::Path;

/// A validated `hdgan modes` request: the model, and the whole run when it is to be
/// simulated.
#[derive(Clone, Debug)]
pub struct ValidModes {
    /// Name of the config (its file stem).
    pub name: String,
    /// The validated model (single-feature, quadratic loss).
    pub model: Model,
    /// The validated run (`--run`).
    pub run: Option<ValidRun>,
}

/// Reads a config for `hdgan modes`: only its `[model]` table, or the whole run config
/// when `run` (with the seed override); refuses models the modes do not describe.
pub fn prepare_modes(
    path: &Path,
    run: bool,
    seed: Option<u64>,
    threads: Option<usize>,
) -> Result<ValidModes> {
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "modes".into());
    let (model, run) = if run {
        let valid = prepare(&RunSource {
            config: ConfigSource::File(path.to_path_buf()),
            seed,
            engine: None,
            threads,
        })?;
        (valid.model().clone(), Some(valid))
    } else {
        let (_, text) = read_file(path)?;
        (model_only(&text, &path.display().to_string())?, None)
    };
    check_modes_model(&model)?;
    Ok(ValidModes { name, model, run })
}

/// The `[model]` of a config's TOML text for the modes alone (`origin` names it in errors),
/// refused where the modes do not describe it.
pub fn modes_model_text(origin: &str, text: &str) -> Result<Model> {
    let model = model_only(text, origin)?;
    check_modes_model(&model)?;
    Ok(model)
}

fn check_modes_model(model: &Model) -> Result<()> {
    model.require_single_feature("`hdgan modes`")?;
    model.require_quadratic("the effective modes (`hdgan modes`)")?;
    Ok(())
}

/// The modes of a validated request.
pub fn modes_of(v: &ValidModes) -> EffectiveModes {
    effective_modes(&v.model)
}

/// A run seen in the mode bases.
#[derive(Clone, Debug)]
pub struct ModesRun {
    /// The run itself.
    pub run: RunResult,
    /// Its phases in the original coordinates ([`crate::run::run_phases`]).
    pub phases: (Option<PhaseSummary>, Option<PhaseSummary>),
    /// The simulation in the mode bases: `P' = E P G^T`, `q' = E q`, `r' = G r`,
    /// `S' = G S G^T` (rows of E, G: the data and generator modes).
    pub sim_modes: Vec<Trajectory>,
    /// The ODE in the mode bases.
    pub ode_modes: Option<Trajectory>,
    /// Phase of member 0 and of the ODE, classified by mode.
    pub phases_by_mode: (Option<PhaseSummary>, Option<PhaseSummary>),
}

/// Simulates `valid` and views it in the bases of `modes`.
pub fn run_in_modes(
    valid: &ValidRun,
    modes: &EffectiveModes,
    threads: Option<usize>,
    ctl: Control<'_>,
) -> Result<ModesRun> {
    let run = simulate(valid, threads, ctl)?;
    let phases = crate::run::run_phases(valid, &run);
    let view = |t: &Trajectory| in_mode_basis(t, modes);
    let sim_modes: Vec<Trajectory> = run.sim.iter().map(view).collect();
    let ode_modes = run.ode.as_ref().map(view);
    let phases_by_mode = crate::run::run_phases_viewed(valid, &run, &view);
    Ok(ModesRun {
        run,
        phases,
        sim_modes,
        ode_modes,
        phases_by_mode,
    })
}
