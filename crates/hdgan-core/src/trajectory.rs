use crate::MacroState;
use serde::{Deserialize, Serialize};

/// A path of the macroscopic state: `states[k]` at time `times[k]` (time `t = k/n` in
/// SGDA steps, SPEC §2). Times are non-decreasing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Trajectory {
    /// Sample times.
    pub times: Vec<f64>,
    /// States at those times.
    pub states: Vec<MacroState>,
}

impl Trajectory {
    /// An empty trajectory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a sample.
    pub fn push(&mut self, t: f64, state: MacroState) {
        debug_assert!(self.times.last().is_none_or(|&last| t >= last));
        self.times.push(t);
        self.states.push(state);
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// The feature count d (None when empty).
    pub fn d(&self) -> Option<usize> {
        self.states.first().map(MacroState::d)
    }

    /// The last state.
    pub fn last(&self) -> Option<&MacroState> {
        self.states.last()
    }

    /// Rows `[t, packed state...]`, one per sample (for CSV / NPY writers).
    pub fn rows(&self) -> Vec<Vec<f64>> {
        self.times
            .iter()
            .zip(&self.states)
            .map(|(&t, s)| {
                let mut row = Vec::with_capacity(1 + MacroState::packed_len(s.d()));
                row.push(t);
                row.extend(s.pack());
                row
            })
            .collect()
    }

    /// The values of one scalar function of the state along the path.
    pub fn series(&self, f: impl Fn(&MacroState) -> f64) -> Vec<f64> {
        self.states.iter().map(f).collect()
    }

    /// Points `(t, f(state))` along the path (for plots).
    pub fn points(&self, f: impl Fn(&MacroState) -> f64) -> Vec<(f64, f64)> {
        self.times
            .iter()
            .copied()
            .zip(self.states.iter().map(f))
            .collect()
    }

    /// Samples whose time lies in `[t0, t1]`.
    pub fn window(&self, t0: f64, t1: f64) -> Trajectory {
        let mut out = Trajectory::new();
        for (&t, s) in self.times.iter().zip(&self.states) {
            if t >= t0 && t <= t1 {
                out.push(t, s.clone());
            }
        }
        out
    }

    /// Entry-wise mean of several trajectories sampled at the same times (an ensemble mean).
    /// Returns None if the list is empty or the time grids differ.
    pub fn mean(paths: &[Trajectory]) -> Option<Trajectory> {
        let first = paths.first()?;
        if paths.iter().any(|p| p.times != first.times) {
            return None;
        }
        let d = first.d()?;
        let k = paths.len() as f64;
        let mut out = Trajectory::new();
        for (i, &t) in first.times.iter().enumerate() {
            let mut acc = vec![0.0; MacroState::packed_len(d)];
            for p in paths {
                for (a, x) in acc.iter_mut().zip(p.states[i].pack()) {
                    *a += x / k;
                }
            }
            out.push(t, MacroState::unpack(d, &acc));
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_rows() {
        let mut a = Trajectory::new();
        let mut b = Trajectory::new();
        let mut s = MacroState::zeros(1);
        a.push(0.0, s.clone());
        s.z = 2.0;
        b.push(0.0, s);
        let m = Trajectory::mean(&[a.clone(), b]).unwrap();
        assert!((m.states[0].z - 1.0).abs() < 1e-15);
        assert_eq!(a.rows(), vec![vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]);
        let mut c = Trajectory::new();
        c.push(1.0, MacroState::zeros(1));
        assert!(Trajectory::mean(&[a, c]).is_none());
    }
}
