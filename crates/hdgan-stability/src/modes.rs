//! Effective modes (THEORY §8): for the quadratic discriminator the latent structure enters
//! only through the effective second moments `M`, `M~`; their eigenpairs are the modes,
//! and each mode has a solvable interval `tau eta^2 < lam_l` and
//! `lam_l - lam~_l + alpha lam~_l <= 2 tau eta^2`.
//!
//! **Which bases.** The data side of the ODE is rotation invariant: `U` is any orthonormal
//! frame, and `(P, q, M) -> (E P, E q, E M E^T)` maps solutions to solutions, so only the
//! spectrum of `M` matters. The generator side is not: the column constraint
//! `diag(V^T V) = 1` (and the regulariser `tr H(V^T V)`) acts on the generator's latent
//! coordinates. When `M~` is diagonal in those coordinates, rotating the data to the modes
//! of `M` turns the ODE into Claim 1's with `Lam = diag(lam)`, `Lam~ = diag(lam~)`, and the
//! mode-wise intervals are exact (data mode l pairs with the generator coordinate of the
//! l-th largest `M~_jj`). When `M~` has off-diagonal entries, its eigenvectors are used as
//! the generator's modes, but the constraint couples them: the intervals are then an
//! approximation, and [`EffectiveModes::generator_mismatch`] says how far off-diagonal `M~`
//! is. (Measured: `M = M~ = diag(5, 0.5) + rho v v^T` with `v = (1, 1)/sqrt 2`, Figure 1's
//! rates, `eta = 2`: the intervals predict oscillation from `rho ~ 5.4`, while the ODE still
//! settles at `rho = 50`; with the informed diagonal `M~ = diag(eig M)` it oscillates as
//! predicted.)

use crate::{ModeStatus, Phase};
use hdgan_core::{DMat, MacroState, SymPsd, Trajectory};
use hdgan_model::Model;
use serde::Serialize;

/// One effective mode: a data mode (eigenpair of `M`) paired with a generator mode.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Mode {
    /// Eigenvalue `lam_l` of `M` (l-th largest).
    pub lam: f64,
    /// The generator's `lam~_l`: the l-th largest diagonal entry of `M~` when `M~` is
    /// diagonal, its l-th largest eigenvalue otherwise.
    pub lam_tilde: f64,
    /// Unit eigenvector `e_l` of `M` (data latent coordinates).
    pub vector: Vec<f64>,
    /// The generator's mode vector `g_l` (generator latent coordinates): a coordinate axis
    /// when `M~` is diagonal, an eigenvector of `M~` otherwise.
    pub generator_vector: Vec<f64>,
    /// Not learnable (`lam <= tau eta^2`), in the solvable interval (learned and stable), or
    /// too strong (`lam - lam~ + alpha lam~ > 2 tau eta^2`: oscillating).
    pub status: ModeStatus,
    /// Claim 1's `p*_l` for the mode, when it exists.
    pub p_star: Option<f64>,
}

/// The effective modes of a model, strongest first.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EffectiveModes {
    /// Modes, by decreasing `lam`.
    pub modes: Vec<Mode>,
    /// `tau eta^2`: a mode is learnable above it.
    pub tau_eta_sq: f64,
    /// `alpha = tau~ / tau`.
    pub alpha: f64,
    /// `2 tau eta^2 / alpha`: the upper end of the interval for a matched mode
    /// (`lam~ = lam`).
    pub matched_upper: f64,
    /// Largest off-diagonal `|M~_ij|` relative to the largest `|M~_ij|`: 0 when the
    /// intervals are exact (see the module documentation), positive when the generator's
    /// modes are coupled by the column constraint and the intervals approximate.
    pub generator_mismatch: f64,
    /// The phase the modes predict.
    pub predicted: Phase,
}

/// Eigenvectors (as rows) and eigenvalues of a symmetric PSD matrix, by decreasing
/// eigenvalue.
fn descending_eigen(m: &SymPsd) -> (Vec<Vec<f64>>, Vec<f64>) {
    // SymPsd stores eigenvalues ascending.
    (0..m.dim())
        .rev()
        .map(|k| (m.eigenvector(k).to_vec(), m.eigenvalues()[k]))
        .unzip()
}

/// The generator's modes: coordinate axes by decreasing diagonal entry when `M~` is
/// diagonal (stable order for ties), eigenpairs otherwise; with the relative off-diagonal
/// size.
fn generator_modes(mt: &SymPsd) -> (Vec<Vec<f64>>, Vec<f64>, f64) {
    let m = mt.matrix();
    let d = mt.dim();
    let scale = m.max_abs().max(f64::MIN_POSITIVE);
    let mut off: f64 = 0.0;
    for i in 0..d {
        for j in 0..d {
            if i != j {
                off = off.max(m[(i, j)].abs() / scale);
            }
        }
    }
    if off > 0.0 {
        let (v, l) = descending_eigen(mt);
        return (v, l, off);
    }
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| m[(b, b)].total_cmp(&m[(a, a)]));
    let vecs = order
        .iter()
        .map(|&k| (0..d).map(|i| if i == k { 1.0 } else { 0.0 }).collect())
        .collect();
    let lams = order.iter().map(|&k| m[(k, k)]).collect();
    (vecs, lams, 0.0)
}

/// The mode-wise solvable intervals of `model` (THEORY §8): data modes from `M`, generator
/// modes from `M~`, paired by rank.
pub fn effective_modes(model: &Model) -> EffectiveModes {
    let (vecs, lams) = descending_eigen(model.latent().second_moment());
    let (gvecs, glams, mismatch) = generator_modes(model.latent_tilde().second_moment());
    let d = lams.len();
    let te = model.tau() * model.eta_sq();
    let alpha = model.alpha();
    let modes: Vec<Mode> = (0..d)
        .map(|l| {
            let (lam, lt) = (lams[l], glams[l]);
            let status = if lam <= te {
                ModeStatus::NotLearned
            } else if lam - lt + alpha * lt > 2.0 * te {
                ModeStatus::Oscillating
            } else {
                ModeStatus::Stable
            };
            let x = (lam - te) * (lt + te - alpha * lt) / (lam * lt);
            Mode {
                lam,
                lam_tilde: lt,
                vector: vecs[l].clone(),
                generator_vector: gvecs[l].clone(),
                status,
                p_star: (x > 0.0 && lam * lt > 0.0).then(|| x.sqrt()),
            }
        })
        .collect();
    let with = |st: bool| -> Vec<usize> {
        (0..d)
            .filter(|&l| (modes[l].status != ModeStatus::NotLearned) == st)
            .collect()
    };
    let (learned, missing) = (with(true), with(false));
    let predicted = if modes.iter().any(|m| m.status == ModeStatus::Oscillating) {
        Phase::Oscillation
    } else if learned.is_empty() {
        Phase::Failure
    } else if missing.is_empty() {
        Phase::Success
    } else {
        Phase::ModeCollapse { learned, missing }
    };
    EffectiveModes {
        modes,
        tau_eta_sq: te,
        alpha,
        matched_upper: 2.0 * te / alpha,
        generator_mismatch: mismatch,
        predicted,
    }
}

impl EffectiveModes {
    /// The matrix `E` whose rows are the data mode vectors (strongest first).
    pub fn basis(&self) -> DMat {
        self.rows_of(|m| &m.vector)
    }

    /// The matrix `G` whose rows are the generator mode vectors (paired with the rows of
    /// [`EffectiveModes::basis`]).
    pub fn generator_basis(&self) -> DMat {
        self.rows_of(|m| &m.generator_vector)
    }

    fn rows_of(&self, f: impl Fn(&Mode) -> &Vec<f64>) -> DMat {
        let d = self.modes.len();
        DMat::from_row_major(d, d, self.modes.iter().flat_map(|m| f(m).clone()).collect())
    }
}

/// A trajectory expressed in the mode bases: `P' = E P G^T`, `q' = E q`, `r' = G r`,
/// `S' = G S G^T` (rows of `E`: data modes; rows of `G`: generator modes). Row l of `P'`
/// is the overlap of the true mode direction `U e_l` with the generator's output direction
/// `V g_j` for its mode j, so `P' -> diag` is mode-wise recovery and [`crate::classify`]
/// names modes instead of coordinates.
pub fn in_mode_basis(traj: &Trajectory, modes: &EffectiveModes) -> Trajectory {
    let (e, g) = (modes.basis(), modes.generator_basis());
    let gt = g.transpose();
    let mut out = Trajectory::new();
    for (t, s) in traj.times.iter().zip(&traj.states) {
        let mut r: MacroState = s.clone();
        r.p = e.matmul(&s.p).matmul(&gt);
        r.q = e.mul_vec(&s.q);
        r.r = g.mul_vec(&s.r);
        r.s = g.matmul(&s.s).matmul(&gt);
        out.push(*t, r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdgan_model::{FromData, LatentConfig, ModelConfig};

    fn model(m: DMat, eta: f64, generator: Option<FromData>) -> Model {
        let mut c = ModelConfig::figure1(1000, eta);
        c.latent = LatentConfig {
            cov: m.to_rows(),
            mean: None,
            classes: Vec::new(),
            from_data: None,
        };
        c.latent_tilde = generator.map(|f| LatentConfig {
            cov: Vec::new(),
            mean: None,
            classes: Vec::new(),
            from_data: Some(f),
        });
        c.validate("model").unwrap()
    }

    /// `diag(5, 0.5) + rho v v^T`, `v = (1, 1) / sqrt 2`.
    fn boosted(rho: f64) -> DMat {
        let mut m = DMat::from_diag(&[5.0, 0.5]);
        for i in 0..2 {
            for j in 0..2 {
                m[(i, j)] += rho / 2.0;
            }
        }
        m
    }

    /// Diagonal M: the modes are Claim 1's features, strongest first.
    #[test]
    fn diagonal_case_is_claim1() {
        let e = effective_modes(&model(DMat::from_diag(&[3.0, 5.0]), 2.0, None));
        assert!((e.modes[0].lam - 5.0).abs() < 1e-12 && (e.modes[1].lam - 3.0).abs() < 1e-12);
        assert_eq!(e.modes[0].generator_vector, vec![0.0, 1.0]);
        assert_eq!(e.predicted, Phase::Success);
        assert!(e.generator_mismatch <= 0.0);
        assert!((e.modes[0].p_star.unwrap() - 0.898).abs() < 5e-4);
    }

    /// Signal boosting with the informed generator (exact case): tau eta^2 = 0.8,
    /// alpha = 0.2, so the interval is (0.8, 8]. Eigenvalues of `boosted(rho)`:
    /// rho = 0: (5, 0.5); rho = 2: (6.21, 1.29); rho = 10: (13.23, 2.27).
    #[test]
    fn signal_boosting_moves_modes_through_the_interval() {
        let phase = |rho: f64| {
            let e = effective_modes(&model(boosted(rho), 2.0, Some(FromData::Informed)));
            assert!(e.generator_mismatch <= 0.0);
            for m in &e.modes {
                assert!((m.lam - m.lam_tilde).abs() < 1e-9);
            }
            e.predicted
        };
        assert_eq!(
            phase(0.0),
            Phase::ModeCollapse {
                learned: vec![0],
                missing: vec![1]
            }
        );
        assert_eq!(phase(2.0), Phase::Success);
        assert_eq!(phase(10.0), Phase::Oscillation);
    }

    /// A correlated generator latent is flagged as the approximate case; an isotropic one
    /// has `lam~ = tr M / d` for every mode.
    #[test]
    fn generator_bases_are_reported() {
        let e = effective_modes(&model(boosted(2.0), 2.0, None));
        assert!((e.generator_mismatch - 1.0 / 6.0).abs() < 1e-12);
        let iso = effective_modes(&model(boosted(2.0), 2.0, Some(FromData::Isotropic)));
        assert!(iso.generator_mismatch <= 0.0);
        for m in &iso.modes {
            assert!((m.lam_tilde - 3.75).abs() < 1e-12);
        }
    }

    /// A recovered state of a rotated problem, `V = U` with both latents rotated the same
    /// way, reads as the identity in the mode bases.
    #[test]
    fn mode_basis_diagonalises_a_rotated_recovery() {
        let e = effective_modes(&model(boosted(2.0), 2.0, None));
        let mut s = MacroState::zeros(2);
        s.p = DMat::identity(2);
        s.s = DMat::identity(2);
        s.z = 1.0;
        let mut t = Trajectory::new();
        t.push(0.0, s);
        let r = in_mode_basis(&t, &e);
        assert!(r.states[0].p.max_abs_diff(&DMat::identity(2)) < 1e-12);
    }
}
