//! The run pipeline: a configuration -> validated parameters ([`prepare`]) -> the
//! simulation ensemble and the limiting ODE ([`simulate`], [`simulate_multi`]) ->
//! trajectories and their phases ([`run_phases`]). Nothing here writes files; the output
//! folder, the CSV/NPY files and the figures are `hdgan-report`'s.

use crate::config::{self, ValidRun};
use crate::resources::Estimate;
use crate::{Control, Error, Result};
use hdgan_core::{MacroState, MultiState, Trajectory};
use hdgan_macro_ode::{MultiForm, solve, solve_multi};
use hdgan_micro_sim::{
    AnyEngine, Checkpoint, EngineKind, Member, MultiSgda, Records, RunControl, SimError,
    advance_all, build_members,
};
use hdgan_model::random::SimRng;
use hdgan_stability::{PhaseRule, PhaseSummary, classify};
use std::path::PathBuf;
use std::time::Instant;

/// Where a run's configuration comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ConfigSource {
    /// The embedded default, Figure 1's successful run ([`config::DEFAULT_CONFIG`]).
    #[default]
    Default,
    /// A TOML file; its stem names the run.
    File(PathBuf),
    /// TOML text: `name` labels the run, `origin` names the text in errors.
    Text {
        /// The run's name.
        name: String,
        /// Where the text came from (for error messages).
        origin: String,
        /// The TOML text.
        text: String,
    },
}

/// A run to prepare: the configuration and the overrides a user may give with it.
#[derive(Clone, Debug, Default)]
pub struct RunSource {
    /// The configuration.
    pub config: ConfigSource,
    /// Seed override.
    pub seed: Option<u64>,
    /// Engine override.
    pub engine: Option<EngineKind>,
    /// Worker threads (None: rayon's default, one per core); checked and used for the
    /// memory estimate.
    pub threads: Option<usize>,
}

impl RunSource {
    /// A run of the config file `path` (None: the embedded default).
    pub fn file(path: Option<PathBuf>) -> Self {
        Self {
            config: path.map_or(ConfigSource::Default, ConfigSource::File),
            ..Self::default()
        }
    }
}

/// Loads and validates a run's configuration, checks the thread count and that the run
/// fits in memory ([`estimate`]); does no work and writes nothing.
pub fn prepare(src: &RunSource) -> Result<ValidRun> {
    let (name, mut cfg) = match &src.config {
        ConfigSource::Default => config::load(None)?,
        ConfigSource::File(p) => config::load(Some(p))?,
        ConfigSource::Text { name, origin, text } => (name.clone(), config::parse(text, origin)?),
    };
    if let Some(seed) = src.seed {
        cfg.seed = seed;
    }
    if let Some(engine) = src.engine {
        cfg.sim.engine = engine;
    }
    crate::resources::check_threads(src.threads)?;
    let valid = cfg.validate(&name)?;
    estimate(&valid, src.threads).check()?;
    Ok(valid)
}

/// A remark when `sim.t_end` or `sim.record_dt` is not a whole number of steps (times
/// are `k / n`, so they are rounded to the nearest step; `run.json` records the effective
/// values).
pub fn rounding_note(valid: &ValidRun) -> Option<String> {
    let n = valid.model().n() as f64;
    let sim = valid.sim();
    let t = valid.schedule().steps as f64 / n;
    let r = valid.schedule().record_every as f64 / n;
    let off = |a: f64, b: f64| (a - b).abs() > 1e-12 * b.abs().max(1.0);
    let mut parts = Vec::new();
    if off(t, sim.t_end) {
        parts.push(format!(
            "sim.t_end = {} is rounded to {t} ({} steps)",
            sim.t_end,
            valid.schedule().steps
        ));
    }
    if off(r, sim.record_dt) {
        parts.push(format!(
            "sim.record_dt = {} is rounded to {r} ({} steps, a whole number of steps of 1/n)",
            sim.record_dt,
            valid.schedule().record_every
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The memory and steps a validated run needs (see [`crate::resources`]): the state
/// vectors of the members running at once, the recorded states of every member and of
/// the ODE, and the output rows built from them.
pub fn estimate(valid: &ValidRun, threads: Option<usize>) -> Estimate {
    let m = valid.model();
    let sim = valid.sim();
    let (n, d, p) = (m.n() as f64, m.d(), m.p());
    let members = sim.members as f64;
    let workers = threads
        .unwrap_or_else(rayon::current_num_threads)
        .min(sim.members) as f64;
    let records = (valid.schedule().steps / valid.schedule().record_every + 2) as f64;
    let (values, blocks) = if p > 1 {
        (MultiState::packed_len(d, p), 5)
    } else {
        (MacroState::packed_len(d), 4)
    };
    // n-vectors per member, as the engine declares them (U, V, W, the normal buffers, and
    // the initial state's construction).
    let decl = sim.engine.decl();
    let vectors = (decl.vectors)(d, p, sim.mode) as f64;
    let mut e = Estimate::default();
    e.add("n-dimensional state vectors", workers * vectors, 8.0 * n)
        .add(
            "recorded states",
            (members + 1.0) * records,
            crate::resources::state_bytes(values, blocks),
        )
        .add(
            "output rows and plot points",
            (members + 1.0) * records,
            crate::resources::row_bytes(values + 2) + 16.0 * values as f64,
        )
        .keys(&["model.n", "sim.members", "sim.t_end", "sim.record_dt"]);
    e.work = Some((
        valid.schedule().steps as f64 * members,
        "SGDA steps".to_owned(),
    ));
    e
}

/// Where a checkpointed run saves its members and, on a resume, finds them. `hdgan-report`'s
/// checkpoint folder implements it; the pipeline itself touches no file. A refusal of the
/// saved state (damaged, another run's) is an [`Error::Input`]; a failure to save, an
/// [`Error::Output`].
pub trait MemberStore: Sync {
    /// Steps between two saves for a run at dimension `n` (at least 1).
    fn every_steps(&self, n: usize) -> u64;
    /// Restores the saved members and returns the step they reached, or `None` to start
    /// afresh.
    fn restore<E>(&self, members: &mut [Member<E>]) -> Result<Option<u64>>
    where
        E: Checkpoint,
        E::State: serde::de::DeserializeOwned;
    /// Saves every member (engine state, random stream, records so far).
    fn save<E>(&self, members: &[Member<E>]) -> Result<()>
    where
        E: Checkpoint,
        E::State: serde::Serialize;
}

/// The store of a run without checkpoints (never called).
struct NoStore;

impl MemberStore for NoStore {
    fn every_steps(&self, _: usize) -> u64 {
        u64::MAX
    }
    fn restore<E: Checkpoint>(&self, _: &mut [Member<E>]) -> Result<Option<u64>> {
        Ok(None)
    }
    fn save<E: Checkpoint>(&self, _: &[Member<E>]) -> Result<()> {
        Ok(())
    }
}

/// What [`simulate`] produced.
#[derive(Clone, Debug)]
pub struct RunResult {
    /// One trajectory per ensemble member.
    pub sim: Vec<Trajectory>,
    /// The ODE solution at the same times (None when disabled).
    pub ode: Option<Trajectory>,
    /// Wall-clock seconds of the simulation.
    pub sim_seconds: f64,
    /// The linear-noise covariance along the ODE's path at the same times, when the run
    /// computes the band (`ode.band`).
    pub band: Option<Box<hdgan_stability::Fluctuations>>,
}

/// The result of [`simulate_multi`].
#[derive(Clone, Debug)]
pub struct MultiRun {
    /// One trajectory per ensemble member.
    pub sim: Vec<Trajectory<MultiState>>,
    /// The multi-feature ODE at the same times (None when disabled).
    pub ode: Option<Trajectory<MultiState>>,
    /// Wall-clock seconds of the simulation.
    pub sim_seconds: f64,
}

/// Runs a validated single-feature configuration: the simulation ensemble (in parallel,
/// on `threads` workers) and the limiting ODE from member 0's initial overlaps.
pub fn simulate(valid: &ValidRun, threads: Option<usize>, ctl: Control<'_>) -> Result<RunResult> {
    simulate_with(valid, threads, ctl, None::<&NoStore>)
}

fn simulate_with<S: MemberStore>(
    valid: &ValidRun,
    threads: Option<usize>,
    ctl: Control<'_>,
    store: Option<&S>,
) -> Result<RunResult> {
    valid.require_single_feature("run::simulate")?;
    if valid.sim().engine.decl().records == Records::Multi {
        // One feature with V kept orthonormal: the multi-feature engine and ODE, seen as
        // single-feature paths (so phases, modes and plots apply unchanged).
        let multi = simulate_multi_with(valid, threads, ctl, store)?;
        let single = |t: &Trajectory<MultiState>| {
            t.to_single().ok_or_else(|| {
                Error::Internal("a one-feature run returned p > 1 states".to_owned())
            })
        };
        return Ok(RunResult {
            sim: multi.sim.iter().map(single).collect::<Result<_>>()?,
            ode: multi.ode.as_ref().map(single).transpose()?,
            sim_seconds: multi.sim_seconds,
            // The multi-feature engine's models are outside the fluctuation theory.
            band: None,
        });
    }
    let sim_cfg = valid.sim();
    let model = valid.model();
    let build = |_i: usize, rng: &mut SimRng| -> Result<AnyEngine, SimError> {
        AnyEngine::build(
            sim_cfg.engine,
            model,
            valid.init(),
            sim_cfg.mode,
            sim_cfg.blowup,
            rng,
        )
    };
    let (sim, sim_seconds) = run_members(valid, threads, ctl, build, store)?;
    let _span = tracing::info_span!("ode", name = %valid.name()).entered();
    let ode = match valid.ode() {
        Some((kind, opts)) => {
            let first = &sim[0];
            Some(
                solve(model, kind, &first.states[0], &first.times, &opts)
                    .map_err(|e| Error::ode("limiting ODE", e))?,
            )
        }
        None => None,
    };
    let band = match &ode {
        Some(o) if valid.band() => {
            let _span = tracing::info_span!("band", name = %valid.name()).entered();
            Some(Box::new(
                hdgan_stability::fluctuations(
                    model,
                    &o.states[0],
                    &o.times,
                    &hdgan_stability::LNA_OPTIONS,
                )
                .map_err(|e| Error::lna("linear-noise band", e))?,
            ))
        }
        _ => None,
    };
    Ok(RunResult {
        sim,
        ode,
        sim_seconds,
        band,
    })
}

/// [`simulate`] for a p-feature discriminator (`model.p > 1`) or the orthonormal model:
/// the literal multi-feature engine and the multi-feature ODE from the prescribed initial
/// overlaps.
pub fn simulate_multi(
    valid: &ValidRun,
    threads: Option<usize>,
    ctl: Control<'_>,
) -> Result<MultiRun> {
    simulate_multi_with(valid, threads, ctl, None::<&NoStore>)
}

fn simulate_multi_with<S: MemberStore>(
    valid: &ValidRun,
    threads: Option<usize>,
    ctl: Control<'_>,
    store: Option<&S>,
) -> Result<MultiRun> {
    let model = valid.model();
    let blowup = valid.sim().blowup;
    let build = |_i: usize, rng: &mut SimRng| -> Result<MultiSgda, SimError> {
        MultiSgda::new(model, valid.init(), blowup, rng)
    };
    let (sim, sim_seconds) = run_members(valid, threads, ctl, build, store)?;
    let _span = tracing::info_span!("ode", name = %valid.name(), multi = true).entered();
    let ode = match valid.ode() {
        Some((_, opts)) => Some(
            solve_multi(
                model,
                MultiForm::for_model(model),
                &ode_start(model, valid.init())?,
                &sim[0].times,
                &opts,
            )
            .map_err(|e| Error::ode("limiting multi-feature ODE", e))?,
        ),
        None => None,
    };
    Ok(MultiRun {
        sim,
        ode,
        sim_seconds,
    })
}

/// The multi-feature ODE's initial state: the prescribed overlaps, orthonormalised as the
/// engine does (Gram-Schmidt of V and W in column order) for the orthonormal model.
fn ode_start(model: &hdgan_model::Model, init: &hdgan_micro_sim::InitState) -> Result<MultiState> {
    let start = init.multi_state();
    if model.constraint() != hdgan_model::Constraint::Orthonormal {
        return Ok(start);
    }
    start.orthonormalized().ok_or_else(|| {
        Error::Internal(
            "the initial overlaps are not realisable by independent columns (S or Z is not positive definite)"
                .to_owned(),
        )
    })
}

/// What a run of any configuration produced: one discriminator feature (the engines of
/// `sim.engine`, the ODE of `ode.equation`, and the phases) or p > 1 features (the
/// multi-feature engine and ODE).
#[derive(Clone, Debug)]
pub enum Simulation {
    /// `model.p = 1`.
    Single {
        /// Trajectories.
        run: RunResult,
        /// Phases of member 0 and of the ODE ([`run_phases`]).
        phases: (Option<PhaseSummary>, Option<PhaseSummary>),
    },
    /// `model.p > 1`.
    Multi(MultiRun),
}

impl Simulation {
    /// Wall-clock seconds of the simulation.
    pub fn sim_seconds(&self) -> f64 {
        match self {
            Simulation::Single { run, .. } => run.sim_seconds,
            Simulation::Multi(m) => m.sim_seconds,
        }
    }
}

/// Runs any validated configuration, the single- or the multi-feature pipeline as
/// `model.p` says, with checkpoints in `store` when given: the one entry point of `hdgan
/// run`.
pub fn run_any<S: MemberStore>(
    valid: &ValidRun,
    threads: Option<usize>,
    ctl: Control<'_>,
    store: Option<&S>,
) -> Result<Simulation> {
    if valid.model().p() > 1 {
        return Ok(Simulation::Multi(simulate_multi_with(
            valid, threads, ctl, store,
        )?));
    }
    let run = simulate_with(valid, threads, ctl, store)?;
    let phases = run_phases(valid, &run);
    Ok(Simulation::Single { run, phases })
}

/// The phases of a single-feature run under the default rules: simulation member 0 with
/// the threshold raised above its O(1/sqrt n) fluctuations, and the ODE's long-time phase
/// (for lambda = inf classified from the run's horizon on and extended while unsettled;
/// otherwise over the run's [0, T]).
pub fn run_phases(
    valid: &ValidRun,
    run: &RunResult,
) -> (Option<PhaseSummary>, Option<PhaseSummary>) {
    run_phases_viewed(valid, run, &|t: &Trajectory| t.clone())
}

/// [`run_phases`] with the rules applied to `view(trajectory)`, e.g. the run seen in the
/// bases of the effective modes, so that the verdicts name modes. The view must keep `z`
/// and the norm of `q` (an orthogonal change of basis does).
pub fn run_phases_viewed(
    valid: &ValidRun,
    run: &RunResult,
    view: &dyn Fn(&Trajectory) -> Trajectory,
) -> (Option<PhaseSummary>, Option<PhaseSummary>) {
    let ode_phase = match (&valid.ode(), valid.model().lambda().is_infinite()) {
        (Some((_, opts)), true) => hdgan_stability::classify_ode_viewed(
            valid.model(),
            &run.sim[0].states[0],
            valid.sim().t_end,
            40,
            &PhaseRule::default(),
            opts,
            view,
        )
        .ok()
        .map(|(s, _, _)| s),
        _ => run
            .ode
            .as_ref()
            .and_then(|o| classify(&view(o), &PhaseRule::default())),
    };
    (
        classify(
            &view(&run.sim[0]),
            &PhaseRule::for_dimension(valid.model().n()),
        ),
        ode_phase,
    )
}

/// Runs the ensemble of `valid` on `threads` workers, reporting progress through `ctl`:
/// the members built by `build` (member i on its stream `(seed, i)`), stepped by the run
/// loop ([`advance_all`]: in SIMD lanes where the engine has them) in segments of the
/// store's interval, saving every member after each segment and starting from the saved
/// members when the store has them (without a store, one segment). The same bits either
/// way; returns the trajectories and the wall-clock seconds.
fn run_members<E, F, S>(
    valid: &ValidRun,
    threads: Option<usize>,
    ctl: Control<'_>,
    build: F,
    store: Option<&S>,
) -> Result<(Vec<Trajectory<E::State>>, f64)>
where
    E: Checkpoint + Send,
    E::State: Send + serde::Serialize + serde::de::DeserializeOwned,
    F: Fn(usize, &mut SimRng) -> Result<E, SimError> + Sync + Send,
    S: MemberStore,
{
    let _span = tracing::info_span!(
        "run",
        name = %valid.name(),
        n = valid.model().n(),
        members = valid.sim().members,
        engine = ?valid.sim().engine,
        mode = ?valid.sim().mode
    )
    .entered();
    let members_n = valid.sim().members as u64;
    let steps = valid.schedule().steps;
    ctl.begin(
        &format!("simulating {}", valid.name()),
        steps * members_n,
        "steps",
    );
    let inc = |k: u64| ctl.advance(k);
    let control = RunControl {
        progress: Some(&inc),
        cancel: ctl.cancel,
    };
    let started = Instant::now();
    let sim = crate::with_threads(threads, || -> Result<_> {
        let mut members = build_members(valid.sim().members, valid.seed(), &build)?;
        let mut at = 0;
        if let Some(k) = store
            .map(|s| s.restore(&mut members))
            .transpose()?
            .flatten()
        {
            at = k;
            inc(at * members_n);
        }
        let every = store
            .map_or(steps, |s| s.every_steps(valid.model().n()))
            .max(1);
        loop {
            let until = (at / every + 1).saturating_mul(every).min(steps);
            advance_all(&mut members, &valid.schedule(), until, control)?;
            at = until;
            if at >= steps {
                break;
            }
            if let Some(s) = store {
                s.save(&members)?;
            }
        }
        Ok(members.into_iter().map(|m| m.trajectory).collect())
    })??;
    ctl.end();
    let secs = started.elapsed().as_secs_f64();
    tracing::info!(seconds = secs, "simulation done");
    Ok((sim, secs))
}
