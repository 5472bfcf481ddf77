use crate::{MacroState, MultiState};
use serde::{Deserialize, Serialize};

/// A path of a macroscopic state: `states[k]` at time `times[k]` (time `t = k/n` in SGDA
/// steps, THEORY §2). Times are non-decreasing. The state is the single-feature
/// [`MacroState`] unless stated (`Trajectory<MultiState>` for a p-feature discriminator).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trajectory<S = MacroState> {
    /// Sample times.
    pub times: Vec<f64>,
    /// States at those times.
    pub states: Vec<S>,
}

impl<S> Default for Trajectory<S> {
    fn default() -> Self {
        Self {
            times: Vec::new(),
            states: Vec::new(),
        }
    }
}

impl<S: Clone> Trajectory<S> {
    /// An empty trajectory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a sample.
    pub fn push(&mut self, t: f64, state: S) {
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

    /// The last state.
    pub fn last(&self) -> Option<&S> {
        self.states.last()
    }

    /// The values of one scalar function of the state along the path.
    pub fn series(&self, f: impl Fn(&S) -> f64) -> Vec<f64> {
        self.states.iter().map(f).collect()
    }

    /// Points `(t, f(state))` along the path (for plots).
    pub fn points(&self, f: impl Fn(&S) -> f64) -> Vec<(f64, f64)> {
        self.times
            .iter()
            .copied()
            .zip(self.states.iter().map(f))
            .collect()
    }

    /// Samples whose time lies in `[t0, t1]`.
    pub fn window(&self, t0: f64, t1: f64) -> Self {
        let mut out = Self::new();
        for (&t, s) in self.times.iter().zip(&self.states) {
            if t >= t0 && t <= t1 {
                out.push(t, s.clone());
            }
        }
        out
    }
}

/// A state with a flat layout, so that paths of it can be written as rows and averaged.
pub trait PackedState: Clone {
    /// The flat layout.
    fn pack(&self) -> Vec<f64>;
    /// A state of the same shape as `self` from a flat layout.
    fn unpack_like(&self, flat: &[f64]) -> Self;
    /// Whether `other` has the same shape (dimensions) as `self`.
    fn same_shape(&self, other: &Self) -> bool;
}

impl PackedState for MacroState {
    fn pack(&self) -> Vec<f64> {
        MacroState::pack(self)
    }
    fn unpack_like(&self, flat: &[f64]) -> Self {
        MacroState::unpack(self.d(), flat)
    }
    fn same_shape(&self, other: &Self) -> bool {
        self.d() == other.d()
    }
}

impl PackedState for MultiState {
    fn pack(&self) -> Vec<f64> {
        MultiState::pack(self)
    }
    fn unpack_like(&self, flat: &[f64]) -> Self {
        MultiState::unpack(self.d(), self.p_features(), flat)
    }
    fn same_shape(&self, other: &Self) -> bool {
        self.d() == other.d() && self.p_features() == other.p_features()
    }
}

impl<S: PackedState> Trajectory<S> {
    /// Largest entry-wise difference `|a - b|` between two paths over their common records
    /// (0 when either is empty).
    pub fn max_abs_diff(&self, other: &Self) -> f64 {
        self.states
            .iter()
            .zip(&other.states)
            .flat_map(|(a, b)| {
                a.pack()
                    .into_iter()
                    .zip(b.pack())
                    .map(|(x, y)| (x - y).abs())
                    .collect::<Vec<_>>()
            })
            .fold(0.0, f64::max)
    }

    /// Rows `[t, packed state...]`, one per sample (for CSV / NPY writers).
    pub fn rows(&self) -> Vec<Vec<f64>> {
        self.times
            .iter()
            .zip(&self.states)
            .map(|(&t, s)| std::iter::once(t).chain(s.pack()).collect())
            .collect()
    }

    /// Entry-wise mean of several trajectories sampled at the same times (an ensemble
    /// mean). None if the list is empty, the time grids differ, or the shapes differ.
    pub fn mean(paths: &[Self]) -> Option<Self> {
        let first = paths.first()?;
        let s0 = first.states.first()?;
        if paths.iter().any(|x| x.times != first.times)
            || paths
                .iter()
                .flat_map(|x| &x.states)
                .any(|s| !s.same_shape(s0))
        {
            return None;
        }
        let k = paths.len() as f64;
        let mut out = Self::new();
        for (i, &t) in first.times.iter().enumerate() {
            let mut acc = vec![0.0; s0.pack().len()];
            for x in paths {
                for (a, v) in acc.iter_mut().zip(x.states[i].pack()) {
                    *a += v / k;
                }
            }
            out.push(t, s0.unpack_like(&acc));
        }
        Some(out)
    }
}

impl Trajectory {
    /// The feature count d (None when empty).
    pub fn d(&self) -> Option<usize> {
        self.states.first().map(MacroState::d)
    }
}

impl Trajectory<MultiState> {
    /// The same path as single-feature states (None unless p = 1).
    pub fn to_single(&self) -> Option<Trajectory> {
        Some(Trajectory {
            times: self.times.clone(),
            states: self
                .states
                .iter()
                .map(MultiState::to_single)
                .collect::<Option<_>>()?,
        })
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
