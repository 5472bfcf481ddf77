//! Effective modes (SPEC §8): for the quadratic discriminator the latent structure enters
//! only through the effective second moments `M`, `M~`; their eigenpairs are the modes,
//! and each mode has a solvable interval `tau eta^2 < lam_l` and
//! `lam_l - lam~_l + alpha lam~_l <= 2 tau eta^2`.

use crate::{ModeStatus, Phase};
use hdgan_core::{DMat, MacroState, Trajectory};
use hdgan_model::Model;
use serde::Serialize;

/// One effective mode.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Mode {
    /// Eigenvalue `lam_l` of `M`.
    pub lam: f64,
    /// `lam~_l = e_l^T M~ e_l` (the eigenvalue of `M~` when the bases agree).
    pub lam_tilde: f64,
    /// Unit eigenvector `e_l` of `M` (in latent coordinates).
    pub vector: Vec<f64>,
    /// Status: not learnable, in the solvable interval (learned, stable), or too strong
    /// (oscillating).
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
    /// Largest off-diagonal `|e_k^T M~ e_l|` relative to the largest `|lam~|`: 0 when `M`
    /// and `M~` share eigenvectors. Above 1e-9 the modes are coupled through `M~` and the
    /// per-mode analysis (which uses the diagonal `e_l^T M~ e_l`) is an approximation; it is
    /// reported, not hidden.
    pub basis_mismatch: f64,
    /// The phase the modes predict.
    pub predicted: Phase,
}

/// Eigenpairs of `M` (descending) and the mode-wise solvable intervals.
pub fn effective_modes(model: &Model) -> EffectiveModes {
    let m = model.latent.second_moment();
    let mt = model.latent_tilde.second_moment().matrix();
    let d = m.dim();
    let te = model.tau * model.eta_sq();
    let alpha = model.alpha();
    // SymPsd stores eigenvalues ascending.
    let order: Vec<usize> = (0..d).rev().collect();
    let vecs: Vec<Vec<f64>> = order.iter().map(|&k| m.eigenvector(k).to_vec()).collect();
    let proj =
        |a: &[f64], b: &[f64]| -> f64 { a.iter().zip(mt.mul_vec(b)).map(|(x, y)| x * y).sum() };
    let mut mismatch: f64 = 0.0;
    let scale = mt.max_abs().max(f64::MIN_POSITIVE);
    for a in 0..d {
        for b in 0..d {
            if a != b {
                mismatch = mismatch.max(proj(&vecs[a], &vecs[b]).abs() / scale);
            }
        }
    }
    let modes: Vec<Mode> = order
        .iter()
        .zip(&vecs)
        .map(|(&k, v)| {
            let lam = m.eigenvalues()[k];
            let lt = proj(v, v);
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
                vector: v.clone(),
                status,
                p_star: (x > 0.0 && lam * lt > 0.0).then(|| x.sqrt()),
            }
        })
        .collect();
    let learned: Vec<usize> = (0..d)
        .filter(|&l| modes[l].status != ModeStatus::NotLearned)
        .collect();
    let missing: Vec<usize> = (0..d)
        .filter(|&l| modes[l].status == ModeStatus::NotLearned)
        .collect();
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
        basis_mismatch: mismatch,
        predicted,
    }
}

impl EffectiveModes {
    /// The matrix `E` whose rows are the mode vectors (strongest first).
    pub fn basis(&self) -> DMat {
        let d = self.modes.len();
        DMat::from_row_major(
            d,
            d,
            self.modes.iter().flat_map(|m| m.vector.clone()).collect(),
        )
    }
}

/// A trajectory expressed in the mode basis: `P' = E P`, `q' = E q` (rows of E are the
/// modes; the generator and discriminator overlaps with mode l instead of feature l), so
/// that [`crate::classify`] names modes.
pub fn in_mode_basis(traj: &Trajectory, modes: &EffectiveModes) -> Trajectory {
    let e = modes.basis();
    let mut out = Trajectory::new();
    for (t, s) in traj.times.iter().zip(&traj.states) {
        let mut r: MacroState = s.clone();
        r.p = e.matmul(&s.p);
        r.q = e.mul_vec(&s.q);
        out.push(*t, r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdgan_model::{LatentConfig, ModelConfig};

    fn model(m: DMat, eta: f64) -> Model {
        let mut c = ModelConfig::figure1(1000, eta);
        c.latent = LatentConfig {
            cov: m.to_rows(),
            mean: None,
            classes: Vec::new(),
        };
        c.validate("model").unwrap()
    }

    /// Diagonal M: the modes are Claim 1's features, strongest first.
    #[test]
    fn diagonal_case_is_claim1() {
        let e = effective_modes(&model(DMat::from_diag(&[3.0, 5.0]), 2.0));
        assert!((e.modes[0].lam - 5.0).abs() < 1e-12 && (e.modes[1].lam - 3.0).abs() < 1e-12);
        assert_eq!(e.predicted, Phase::Success);
        assert!(e.basis_mismatch < 1e-12);
        assert!((e.modes[0].p_star.unwrap() - 0.898).abs() < 5e-4);
    }

    /// Signal boosting: M = diag(5, 0.5) + rho v v^T, v = (1, 1)/sqrt 2, tau eta^2 = 0.8,
    /// alpha = 0.2 (upper end 2 tau eta^2 / alpha = 8 for matched M~).
    #[test]
    fn signal_boosting_moves_modes_through_the_interval() {
        let boosted = |rho: f64| {
            let mut m = DMat::from_diag(&[5.0, 0.5]);
            for i in 0..2 {
                for j in 0..2 {
                    m[(i, j)] += rho / 2.0;
                }
            }
            effective_modes(&model(m, 2.0)).predicted
        };
        assert_eq!(
            boosted(0.0),
            Phase::ModeCollapse {
                learned: vec![0],
                missing: vec![1]
            }
        );
        assert_eq!(boosted(2.0), Phase::Success);
        assert_eq!(boosted(10.0), Phase::Oscillation);
    }
}
