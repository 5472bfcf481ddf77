use crate::SimError;
use hdgan_core::{ParamError, Trajectory};
use hdgan_model::random::{SimRng, stream_rng};
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

/// The stepping contract every simulation engine implements. Engines only step and report
/// their macroscopic state; the run loop ([`run`]) owns the stop time, the recording
/// cadence, progress and cancellation.
pub trait Engine {
    /// Ambient dimension n (time is `steps / n`).
    fn n(&self) -> usize;
    /// Steps taken so far.
    fn steps_done(&self) -> u64;
    /// One SGDA step.
    fn step(&mut self, rng: &mut SimRng) -> Result<(), SimError>;
    /// The macroscopic state it records ([`hdgan_core::MacroState`], or `MultiState` for a p-feature
    /// discriminator).
    type State: Clone + Send;
    /// The current macroscopic state.
    fn macro_state(&self) -> Self::State;
}

/// When to stop and when to record.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    /// Total number of steps (`round(n T)`).
    pub steps: u64,
    /// Record every this many steps (>= 1); the last step is always recorded.
    pub record_every: u64,
}

impl Schedule {
    /// The schedule for final time `t_end` and record interval `record_dt` at dimension n:
    /// `round(n t_end)` steps, a record every `max(1, round(n record_dt))` steps.
    pub fn from_times(n: usize, t_end: f64, record_dt: f64) -> Result<Self, ParamError> {
        let nf = n as f64;
        let steps = (nf * t_end).round();
        if !(1.0..9.0e18).contains(&steps) {
            return Err(ParamError::rule(
                "sim.t_end",
                format!("must give between 1 and 9e18 steps at n = {n}, got n t_end = {steps}"),
            ));
        }
        let every = (nf * record_dt).round().max(1.0);
        Ok(Self {
            steps: steps as u64,
            record_every: every as u64,
        })
    }

    /// The recording step indices: `0, K, 2K, ...` and the last step.
    pub fn record_steps(&self) -> Vec<u64> {
        let mut v: Vec<u64> = (0..=self.steps)
            .step_by(self.record_every as usize)
            .collect();
        if v.last() != Some(&self.steps) {
            v.push(self.steps);
        }
        v
    }

    /// The recording times `k / n`.
    pub fn record_times(&self, n: usize) -> Vec<f64> {
        self.record_steps()
            .into_iter()
            .map(|k| k as f64 / n as f64)
            .collect()
    }
}

/// Progress reporting and cancellation for [`run`] / [`run_ensemble`].
#[derive(Clone, Copy, Default)]
pub struct RunControl<'a> {
    /// Called with the number of steps just completed (in chunks, from any thread).
    pub progress: Option<&'a (dyn Fn(u64) + Sync)>,
    /// When set to true, runs stop at their next record with [`SimError::Cancelled`].
    pub cancel: Option<&'a AtomicBool>,
}

/// Runs `engine` along `schedule` with the random stream `rng`, recording the macroscopic
/// state at [`Schedule::record_steps`]. Times are `k / n`.
pub fn run<E: Engine>(
    engine: &mut E,
    rng: &mut SimRng,
    schedule: &Schedule,
    control: RunControl<'_>,
) -> Result<Trajectory<E::State>, SimError> {
    let nf = engine.n() as f64;
    let mut out = Trajectory::new();
    let records = schedule.record_steps();
    let start = engine.steps_done();
    const CHUNK: u64 = 4096;
    for &k in &records {
        while engine.steps_done() - start < k {
            let todo = (k - (engine.steps_done() - start)).min(CHUNK);
            for _ in 0..todo {
                engine.step(rng)?;
            }
            if let Some(p) = control.progress {
                p(todo);
            }
        }
        if let Some(c) = control.cancel
            && c.load(Ordering::Relaxed)
        {
            return Err(SimError::Cancelled { t: k as f64 / nf });
        }
        out.push(k as f64 / nf, engine.macro_state());
    }
    Ok(out)
}

/// Engines whose whole state can be saved and restored bit for bit, for checkpoints: a
/// run restored from [`Checkpoint::save_state`] continues exactly as the uninterrupted
/// run would (same random draws, same rounding).
pub trait Checkpoint: Engine {
    /// Everything a step reads besides the model (vectors or Gram factor, scales, deferred
    /// updates, lane generators, scratch, step count), as bytes.
    fn save_state(&self) -> Vec<u8>;
    /// Restores a state saved by [`Checkpoint::save_state`] into an engine built for the
    /// same model and settings; refuses states of other shapes.
    fn restore_state(&mut self, bytes: &[u8]) -> Result<(), SimError>;
}

/// Serialises plain data (postcard: compact, exact for floats, infinities included).
pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).expect("serialising in-memory numbers cannot fail")
}

/// Inverse of [`encode`]; corrupt bytes are a [`SimError::BadCheckpoint`].
pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, SimError> {
    postcard::from_bytes(bytes).map_err(|e| SimError::BadCheckpoint {
        reason: format!("corrupt engine state ({e})"),
    })
}

/// One ensemble member in progress: its engine, its random stream and what it has
/// recorded (the state of a run between [`advance`] calls, which a checkpoint saves).
#[derive(Clone, Debug)]
pub struct Member<E: Engine> {
    /// The engine.
    pub engine: E,
    /// Its random stream.
    pub rng: SimRng,
    /// The states recorded so far, at [`Schedule::record_steps`].
    pub trajectory: Trajectory<E::State>,
}

/// Advances `member` along `schedule` to step `until` (at most the schedule's end),
/// recording at the record steps on the way (a record at `until` included). A run taken
/// in several `advance` calls records exactly what [`run`] records in one.
pub fn advance<E: Engine>(
    member: &mut Member<E>,
    schedule: &Schedule,
    until: u64,
    control: RunControl<'_>,
) -> Result<(), SimError> {
    let nf = member.engine.n() as f64;
    let records = schedule.record_steps();
    let target = until.min(schedule.steps);
    const CHUNK: u64 = 4096;
    let mut next = member.trajectory.len();
    loop {
        while next < records.len() && records[next] == member.engine.steps_done() {
            let k = records[next];
            if let Some(c) = control.cancel
                && c.load(Ordering::Relaxed)
            {
                return Err(SimError::Cancelled { t: k as f64 / nf });
            }
            member
                .trajectory
                .push(k as f64 / nf, member.engine.macro_state());
            next += 1;
        }
        let done = member.engine.steps_done();
        if done >= target {
            return Ok(());
        }
        let stop = records.get(next).copied().unwrap_or(target).min(target);
        let mut at = done;
        while at < stop {
            let todo = (stop - at).min(CHUNK);
            for _ in 0..todo {
                member.engine.step(&mut member.rng)?;
            }
            at += todo;
            if let Some(p) = control.progress {
                p(todo);
            }
        }
    }
}

/// Runs `members` independent simulations in parallel (rayon). Member i draws everything,
/// its initial state included, from `stream_rng(seed, i)` and is built by
/// `build(i, &mut rng)`; results come back in member order, so they do not depend on the
/// number of threads.
pub fn run_ensemble<E, F>(
    members: usize,
    seed: u64,
    build: F,
    schedule: &Schedule,
    control: RunControl<'_>,
) -> Result<Vec<Trajectory<E::State>>, SimError>
where
    E: Engine,
    F: Fn(usize, &mut SimRng) -> Result<E, SimError> + Sync,
{
    (0..members)
        .into_par_iter()
        .map(|i| {
            let _span = tracing::debug_span!("member", i, seed).entered();
            let mut rng = stream_rng(seed, i as u64);
            let mut engine = build(i, &mut rng)?;
            run(&mut engine, &mut rng, schedule, control)
        })
        .collect()
}

/// `members` runs of the full engine with step `mode` from `init` (fresh random rows per
/// member, stream `(seed, i)`), recorded per `schedule`: the ensemble the statistical
/// checks compare.
pub fn full_ensemble(
    model: &hdgan_model::Model,
    init: &crate::InitState,
    mode: crate::StepMode,
    members: usize,
    seed: u64,
    schedule: &Schedule,
) -> Result<Vec<Trajectory>, SimError> {
    run_ensemble(
        members,
        seed,
        |_, rng| crate::Sgda::new(model, init.build(model.n, rng), mode, crate::DEFAULT_BLOWUP),
        schedule,
        RunControl::default(),
    )
}

/// `members` runs of the Gram engine (`variant`: the exact one, or a deliberately wrong
/// control) from the overlaps `start`, recorded per `schedule`: [`run_gram_ensemble`]
/// with every member built the same way.
pub fn gram_ensemble(
    model: &hdgan_model::Model,
    start: &hdgan_core::MacroState,
    variant: crate::GramVariant,
    members: usize,
    seed: u64,
    schedule: &Schedule,
) -> Result<Vec<Trajectory>, SimError> {
    run_gram_ensemble(
        members,
        seed,
        |_, _| {
            Ok(
                crate::GramEngine::from_macro(model, start, crate::DEFAULT_BLOWUP)
                    .with_variant(variant),
            )
        },
        schedule,
        RunControl::default(),
    )
}

/// [`run_ensemble`] for the Gram engine, with the same results bit for bit: member i is
/// built by `build(i, &mut rng)` from stream `(seed, i)` and steps on that stream. Members
/// are stepped [`crate::LANES`] at a time ([`crate::GramLanes`]; a last group of fewer one
/// by one), in parallel over groups, so the paths do not depend on the grouping or the
/// thread count. The members of a group must share the model and variant (they do when
/// `build` makes them from one config).
pub fn run_gram_ensemble<F>(
    members: usize,
    seed: u64,
    build: F,
    schedule: &Schedule,
    control: RunControl<'_>,
) -> Result<Vec<Trajectory>, SimError>
where
    F: Fn(usize, &mut SimRng) -> Result<crate::GramEngine, SimError> + Sync,
{
    let lanes = crate::LANES;
    let groups: Vec<Vec<Trajectory>> = (0..members.div_ceil(lanes))
        .into_par_iter()
        .map(|g| {
            let ids: Vec<usize> = (g * lanes..((g + 1) * lanes).min(members)).collect();
            let _span = tracing::debug_span!("members", first = ids[0], seed).entered();
            let mut rngs: Vec<SimRng> = ids.iter().map(|&i| stream_rng(seed, i as u64)).collect();
            let engines = ids
                .iter()
                .zip(rngs.iter_mut())
                .map(|(&i, rng)| build(i, rng))
                .collect::<Result<Vec<_>, _>>()?;
            if ids.len() == lanes {
                crate::gram_lanes::run_lanes(engines, &mut rngs, schedule, control)
            } else {
                engines
                    .into_iter()
                    .zip(rngs.iter_mut())
                    .map(|(mut e, rng)| run(&mut e, rng, schedule, control))
                    .collect()
            }
        })
        .collect::<Result<_, _>>()?;
    Ok(groups.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_in_pieces_records_what_one_run_records() {
        use crate::{AnyEngine, EngineKind, InitConfig, StepMode};
        let model = hdgan_model::ModelConfig::figure1(300, 2.0)
            .validate("model")
            .unwrap();
        let init = InitConfig::diagonal(2, 0.1, 0.1)
            .validate("init", &model)
            .unwrap();
        let schedule = Schedule::from_times(300, 2.0, 0.3).unwrap();
        for kind in [EngineKind::Full, EngineKind::Gram] {
            for mode in [StepMode::Fast, StepMode::Literal] {
                let build = |rng: &mut SimRng| {
                    AnyEngine::build(kind, &model, &init, mode, crate::DEFAULT_BLOWUP, rng).unwrap()
                };
                let mut rng = stream_rng(3, 0);
                let mut e = build(&mut rng);
                let whole = run(&mut e, &mut rng, &schedule, RunControl::default()).unwrap();
                let mut rng = stream_rng(3, 0);
                let mut m = Member {
                    engine: build(&mut rng),
                    rng,
                    trajectory: Trajectory::new(),
                };
                for until in [0, 1, 77, 90, 300, 301, 599, 10_000] {
                    advance(&mut m, &schedule, until, RunControl::default()).unwrap();
                    // Save and restore through bytes on the way.
                    let bytes = crate::Checkpoint::save_state(&m.engine);
                    let mut rng2 = stream_rng(99, 9);
                    let mut fresh = build(&mut rng2);
                    crate::Checkpoint::restore_state(&mut fresh, &bytes).unwrap();
                    m.engine = fresh;
                }
                assert_eq!(m.trajectory, whole, "{kind:?} {mode:?}");
            }
        }
    }

    #[test]
    fn schedule_records_every_k_and_the_end() {
        let s = Schedule::from_times(10, 1.05, 0.5).unwrap();
        assert_eq!(s.steps, 11);
        assert_eq!(s.record_steps(), vec![0, 5, 10, 11]);
        assert!(Schedule::from_times(10, 0.01, 0.5).is_err());
    }
}
