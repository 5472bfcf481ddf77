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
    /// How many members of an ensemble the run loop steps together (SIMD lanes; 1: one by
    /// one). Members are grouped only when every one reports the same number.
    fn lanes(&self) -> usize {
        1
    }
    /// Steps each of `engines` (members built alike, at the same step) `steps` times,
    /// member i on `rngs[i]`, with the same bits as stepping each alone. The default steps
    /// them one after the other; an engine with [`Engine::lanes`] > 1 overrides it.
    fn step_together(
        engines: &mut [&mut Self],
        rngs: &mut [&mut SimRng],
        steps: u64,
    ) -> Result<(), SimError>
    where
        Self: Sized,
    {
        step_each(engines, rngs, steps)
    }
}

/// Steps each of `engines` `steps` times on its own stream, one after the other (the
/// default of [`Engine::step_together`]).
pub fn step_each<E: Engine + ?Sized>(
    engines: &mut [&mut E],
    rngs: &mut [&mut SimRng],
    steps: u64,
) -> Result<(), SimError> {
    for (e, rng) in engines.iter_mut().zip(rngs.iter_mut()) {
        for _ in 0..steps {
            e.step(rng)?;
        }
    }
    Ok(())
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

/// One member as the run loop sees it: its engine, stream and records, borrowed.
struct Slot<'a, E: Engine> {
    engine: &'a mut E,
    rng: &'a mut SimRng,
    records: &'a mut Trajectory<E::State>,
}

/// Steps taken by every member in one call of [`Engine::step_together`] at most, between
/// two progress reports.
const CHUNK: u64 = 4096;

/// The run loop, the only one: advances `group` (members at the same step count, built
/// alike) to step `base + until` (at most the schedule's end), recording at `base +` the
/// record steps on the way (a record at the target included) after the records each
/// member already holds. It owns the chunking, the recording cadence, progress and
/// cancellation; the members of a group step together through
/// [`Engine::step_together`].
fn drive<E: Engine>(
    group: &mut [Slot<'_, E>],
    schedule: &Schedule,
    base: u64,
    until: u64,
    control: RunControl<'_>,
) -> Result<(), SimError> {
    let Some(first) = group.first() else {
        return Ok(());
    };
    let nf = first.engine.n() as f64;
    let records = schedule.record_steps();
    let target = until.min(schedule.steps);
    let mut next = first.records.len();
    loop {
        let done = group[0].engine.steps_done() - base;
        while next < records.len() && records[next] == done {
            let k = records[next];
            if let Some(c) = control.cancel
                && c.load(Ordering::Relaxed)
            {
                return Err(SimError::Cancelled { t: k as f64 / nf });
            }
            for s in group.iter_mut() {
                s.records.push(k as f64 / nf, s.engine.macro_state());
            }
            next += 1;
        }
        if done >= target {
            return Ok(());
        }
        let stop = records.get(next).copied().unwrap_or(target).min(target);
        let mut at = done;
        while at < stop {
            let todo = (stop - at).min(CHUNK);
            if let [one] = group {
                for _ in 0..todo {
                    one.engine.step(one.rng)?;
                }
            } else {
                let (mut engines, mut rngs): (Vec<&mut E>, Vec<&mut SimRng>) = group
                    .iter_mut()
                    .map(|s| (&mut *s.engine, &mut *s.rng))
                    .unzip();
                E::step_together(&mut engines, &mut rngs, todo)?;
            }
            at += todo;
            if let Some(p) = control.progress {
                p(todo * group.len() as u64);
            }
        }
    }
}

/// Runs `engine` along `schedule` with the random stream `rng`, recording the macroscopic
/// state at [`Schedule::record_steps`] counted from the engine's current step. Times are
/// `k / n`. (The run loop of [`advance`] with one member.)
pub fn run<E: Engine>(
    engine: &mut E,
    rng: &mut SimRng,
    schedule: &Schedule,
    control: RunControl<'_>,
) -> Result<Trajectory<E::State>, SimError> {
    let mut records = Trajectory::new();
    let base = engine.steps_done();
    drive(
        &mut [Slot {
            engine,
            rng,
            records: &mut records,
        }],
        schedule,
        base,
        schedule.steps,
        control,
    )?;
    Ok(records)
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

impl<E: Engine> Member<E> {
    fn slot(&mut self) -> Slot<'_, E> {
        Slot {
            engine: &mut self.engine,
            rng: &mut self.rng,
            records: &mut self.trajectory,
        }
    }
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
    drive(&mut [member.slot()], schedule, 0, until, control)
}

/// Advances every member (all at the same step) to step `until` as [`advance`] does, in
/// parallel (rayon): members in groups of [`Engine::lanes`] stepped together, a last
/// smaller group one by one. The numbers do not depend on the grouping or the thread
/// count (each member draws only from its own stream).
pub fn advance_all<E: Engine + Send>(
    members: &mut [Member<E>],
    schedule: &Schedule,
    until: u64,
    control: RunControl<'_>,
) -> Result<(), SimError>
where
    E::State: Send,
{
    let lanes = members.first().map_or(1, |m| m.engine.lanes()).max(1);
    let full = members.len() / lanes * lanes;
    let (grouped, rest) = members.split_at_mut(full);
    grouped
        .par_chunks_mut(lanes)
        .chain(rest.par_chunks_mut(1))
        .try_for_each(|group| {
            let mut slots: Vec<Slot<'_, E>> = group.iter_mut().map(Member::slot).collect();
            drive(&mut slots, schedule, 0, until, control)
        })
}

/// The members of an ensemble, built in parallel: member i from `build(i, &mut rng)` on
/// its stream `stream_rng(seed, i)`, with nothing recorded yet.
pub fn build_members<E, F>(members: usize, seed: u64, build: F) -> Result<Vec<Member<E>>, SimError>
where
    E: Engine + Send,
    E::State: Send,
    F: Fn(usize, &mut SimRng) -> Result<E, SimError> + Sync,
{
    (0..members)
        .into_par_iter()
        .map(|i| {
            let _span = tracing::debug_span!("member", i, seed).entered();
            let mut rng = stream_rng(seed, i as u64);
            let engine = build(i, &mut rng)?;
            Ok(Member {
                engine,
                rng,
                trajectory: Trajectory::new(),
            })
        })
        .collect()
}

/// Runs `members` independent simulations in parallel (rayon). Member i draws everything,
/// its initial state included, from `stream_rng(seed, i)` and is built by
/// `build(i, &mut rng)`; engines that step in SIMD lanes ([`Engine::lanes`]) step in
/// groups; results come back in member order, so they do not depend on the number of
/// threads or the grouping.
pub fn run_ensemble<E, F>(
    members: usize,
    seed: u64,
    build: F,
    schedule: &Schedule,
    control: RunControl<'_>,
) -> Result<Vec<Trajectory<E::State>>, SimError>
where
    E: Engine + Send,
    E::State: Send,
    F: Fn(usize, &mut SimRng) -> Result<E, SimError> + Sync,
{
    let mut all = build_members(members, seed, build)?;
    advance_all(&mut all, schedule, schedule.steps, control)?;
    Ok(all.into_iter().map(|m| m.trajectory).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_records_every_k_and_the_end() {
        let s = Schedule::from_times(10, 1.05, 0.5).unwrap();
        assert_eq!(s.steps, 11);
        assert_eq!(s.record_steps(), vec![0, 5, 10, 11]);
        assert!(Schedule::from_times(10, 0.01, 0.5).is_err());
    }
}
