use hdgan_core::{MacroState, Trajectory};
use serde::Serialize;
use std::fmt;

/// The phases of the training dynamics (§4 of the paper).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Phase {
    /// Every feature learned, the discriminator fooled (`q -> 0`).
    Success,
    /// No feature learned.
    Failure,
    /// The discriminator keeps a non-vanishing amplitude (no stable `q = r = 0` state).
    Oscillation,
    /// Some features learned, others not (0-based feature indices).
    ModeCollapse {
        /// Features learned.
        learned: Vec<usize>,
        /// Features not learned.
        missing: Vec<usize>,
    },
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let one_based = |v: &[usize]| {
            v.iter()
                .map(|i| (i + 1).to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        match self {
            Phase::Success => write!(f, "success"),
            Phase::Failure => write!(f, "failure"),
            Phase::Oscillation => write!(f, "oscillation"),
            Phase::ModeCollapse { learned, missing } => write!(
                f,
                "mode collapse (learned {}; not learned {})",
                one_based(learned),
                one_based(missing)
            ),
        }
    }
}

/// The classification rule's thresholds. One rule serves ODE and simulation paths.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PhaseRule {
    /// The last `window` fraction of the time span is examined (default 0.25).
    pub window: f64,
    /// The discriminator has not come to rest (oscillation) when the root mean square of
    /// `|q| / sqrt(z)` over the window is at least this. For the ODE (n = infinity) 0.02:
    /// settled paths decay to 1e-6 and below, oscillations keep RMS from about 0.05 (small
    /// limit cycles near the boundaries) to several tenths. A simulation at rest fluctuates
    /// around q = 0: each q_i is an Ornstein-Uhlenbeck process with noise tau sqrt(b / n)
    /// (b = eta_T^2 + eta_G^2 at rest) and decay rate kappa, so its variance is
    /// tau^2 b / (2 n kappa): about (3.5 / sqrt(n))^2 in Figure 1's success run (0.05 at
    /// n = 5000, measured) and (4.6 / sqrt(n))^2 in its collapse run, where the collapsed
    /// mode decays at only kappa = tau (tau eta^2 - Lam_2) = 0.04.
    /// [`PhaseRule::for_dimension`] therefore raises the threshold to 10 / sqrt(n).
    pub q_rms: f64,
    /// Feature l counts as learned when the window mean of its cosine
    /// `max_j |P_lj| / sqrt(S_jj)` exceeds its value at the start of the path by at least
    /// this (default 0.1). A feature that is never learned rests at its initial overlap
    /// (every `q = r = 0` state is a fixed point), a learned one climbs to the box
    /// `p*_l <= |P_ll| <= 1`; the simulation's fluctuations (O(1/sqrt n)) stay well below
    /// 0.1 for n in the thousands.
    pub learned_gain: f64,
}

impl Default for PhaseRule {
    /// The rule for ODE paths (n = infinity).
    fn default() -> Self {
        Self {
            window: 0.25,
            q_rms: 0.02,
            learned_gain: 0.1,
        }
    }
}

impl PhaseRule {
    /// The rule for a simulation at dimension n: the default with `q_rms` raised to
    /// `max(0.02, 10 / sqrt(n))`, above the O(1/sqrt n) fluctuations of q at rest (see
    /// [`PhaseRule::q_rms`]).
    pub fn for_dimension(n: usize) -> Self {
        Self {
            q_rms: (10.0 / (n as f64).sqrt()).max(0.02),
            ..Self::default()
        }
    }
}

/// The statistics the rule looked at, with the verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PhaseSummary {
    /// The verdict.
    pub phase: Phase,
    /// RMS of `|q| / sqrt(z)` over the window.
    pub q_rms: f64,
    /// Window mean of each feature's best cosine `max_j |P_lj| / sqrt(S_jj)`.
    pub feature_cosine: Vec<f64>,
}

fn best_cosine(s: &MacroState, l: usize) -> f64 {
    (0..s.d())
        .map(|j| s.p_cosine(l, j).abs())
        .fold(0.0, f64::max)
}

/// Classifies a trajectory by `rule` over its last window: oscillation if the
/// discriminator's overlap keeps an RMS amplitude `>= rule.q_rms`; otherwise success if
/// every feature is learned (its cosine rose by `rule.learned_gain` from the first state),
/// failure if none is, mode collapse (naming the features) otherwise. Returns None for an
/// empty trajectory.
pub fn classify(traj: &Trajectory, rule: &PhaseRule) -> Option<PhaseSummary> {
    let (&t_end, &t0) = (traj.times.last()?, traj.times.first()?);
    let from = t_end - rule.window * (t_end - t0);
    let states: Vec<&MacroState> = traj
        .times
        .iter()
        .zip(&traj.states)
        .filter(|(t, _)| **t >= from)
        .map(|(_, s)| s)
        .collect();
    let k = states.len() as f64;
    let d = states[0].d();
    let q_rms = (states
        .iter()
        .map(|s| s.q.iter().map(|x| x * x).sum::<f64>() / s.z)
        .sum::<f64>()
        / k)
        .sqrt();
    let feature_cosine: Vec<f64> = (0..d)
        .map(|l| states.iter().map(|s| best_cosine(s, l)).sum::<f64>() / k)
        .collect();
    let start: Vec<f64> = (0..d).map(|l| best_cosine(&traj.states[0], l)).collect();
    let is_learned = |l: usize| feature_cosine[l] >= start[l] + rule.learned_gain;
    let learned: Vec<usize> = (0..d).filter(|&l| is_learned(l)).collect();
    let missing: Vec<usize> = (0..d).filter(|&l| !is_learned(l)).collect();
    let phase = if q_rms >= rule.q_rms {
        Phase::Oscillation
    } else if missing.is_empty() {
        Phase::Success
    } else if learned.is_empty() {
        Phase::Failure
    } else {
        Phase::ModeCollapse { learned, missing }
    };
    Some(PhaseSummary {
        phase,
        q_rms,
        feature_cosine,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdgan_core::DMat;

    /// A path that starts at P = 0.1 I and sits at P = diag(p) from t = 1 on.
    fn path(p: &[f64], q: impl Fn(f64) -> f64) -> Trajectory {
        let mut t = Trajectory::new();
        for k in 0..=100 {
            let mut s = MacroState::zeros(p.len());
            s.p = if k == 0 {
                DMat::from_diag(&vec![0.1; p.len()])
            } else {
                DMat::from_diag(p)
            };
            s.s = DMat::identity(p.len());
            s.z = 1.0;
            s.q[0] = q(k as f64);
            t.push(k as f64, s);
        }
        t
    }

    #[test]
    fn each_phase_is_recognised() {
        let rule = PhaseRule::default();
        let ph = |t: &Trajectory| classify(t, &rule).unwrap().phase;
        assert_eq!(ph(&path(&[0.9, 0.9], |_| 0.01)), Phase::Success);
        assert_eq!(ph(&path(&[0.1, 0.1], |_| 0.0)), Phase::Failure);
        assert_eq!(
            ph(&path(&[0.9, 0.9], |t| 0.5 * (t / 3.0).sin())),
            Phase::Oscillation
        );
        assert_eq!(
            ph(&path(&[0.9, 0.1], |_| 0.0)),
            Phase::ModeCollapse {
                learned: vec![0],
                missing: vec![1]
            }
        );
    }
}
