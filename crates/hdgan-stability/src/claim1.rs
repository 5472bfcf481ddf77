use crate::Phase;
use hdgan_model::Model;
use serde::Serialize;

/// What Claim 1 (and its mode-wise form, THEORY §8) says about one feature `l`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ModeStatus {
    /// `Lam_l <= tau eta^2`: the mode is never learned.
    NotLearned,
    /// Learnable, but `Lam_l - Lam~_l + alpha Lam~_l > 2 tau eta^2`: no stable fixed point
    /// with `q = r = 0`, the dynamics oscillate.
    Oscillating,
    /// Learned, and the box `p*_l <= |P_ll| <= 1` is locally stable.
    Stable,
}

/// Claim 1 evaluated for a model with diagonal `Lam`, `Lam~` (eq. 15):
/// `(1/2) max_l (Lam_l - Lam~_l + alpha Lam~_l) <= tau eta^2 < min_l Lam_l`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Claim1 {
    /// Left side, `(1/2) max_l (Lam_l - Lam~_l + alpha Lam~_l)`.
    pub left: f64,
    /// Middle, `tau eta^2`.
    pub tau_eta_sq: f64,
    /// Right side, `min_l Lam_l`.
    pub right: f64,
    /// Whether the left inequality holds (no oscillation).
    pub left_holds: bool,
    /// Whether the right inequality holds (every mode learnable).
    pub right_holds: bool,
    /// `p*_l = sqrt((Lam_l - tau eta^2)(Lam~_l + tau eta^2 - alpha Lam~_l) / (Lam_l Lam~_l))`
    /// for each mode where the radicand is positive.
    pub p_star: Vec<Option<f64>>,
    /// Each mode's status.
    pub modes: Vec<ModeStatus>,
    /// The phase these predict.
    pub predicted: Phase,
}

/// Claim 1 for `model`. Returns None unless the loss is the quadratic one and both latent
/// second moments are diagonal (the claim's setting; other second moments go through the
/// effective modes of THEORY §8, other losses through the ODE and its fixed points).
pub fn claim1(model: &Model) -> Option<Claim1> {
    if model.loss() != hdgan_model::Loss::Quadratic {
        return None;
    }
    let lam_m = model.latent().second_moment();
    let lamt_m = model.latent_tilde().second_moment();
    if !(lam_m.is_diagonal() && lamt_m.is_diagonal()) {
        return None;
    }
    let lam = lam_m.matrix().diag();
    let lamt = lamt_m.matrix().diag();
    let te = model.tau() * model.eta_sq();
    let alpha = model.alpha();
    let osc_term: Vec<f64> = lam
        .iter()
        .zip(&lamt)
        .map(|(l, lt)| l - lt + alpha * lt)
        .collect();
    let left = 0.5 * osc_term.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let right = lam.iter().copied().fold(f64::INFINITY, f64::min);
    let p_star = lam
        .iter()
        .zip(&lamt)
        .map(|(&l, &lt)| {
            let x = (l - te) * (lt + te - alpha * lt) / (l * lt);
            (x > 0.0 && l * lt > 0.0).then(|| x.sqrt())
        })
        .collect();
    let modes: Vec<ModeStatus> = lam
        .iter()
        .zip(&osc_term)
        .map(|(&l, &o)| {
            if l <= te {
                ModeStatus::NotLearned
            } else if o > 2.0 * te {
                ModeStatus::Oscillating
            } else {
                ModeStatus::Stable
            }
        })
        .collect();
    let learned: Vec<usize> = (0..modes.len())
        .filter(|&l| modes[l] != ModeStatus::NotLearned)
        .collect();
    let missing: Vec<usize> = (0..modes.len())
        .filter(|&l| modes[l] == ModeStatus::NotLearned)
        .collect();
    let predicted = if modes.contains(&ModeStatus::Oscillating) {
        Phase::Oscillation
    } else if learned.is_empty() {
        Phase::Failure
    } else if missing.is_empty() {
        Phase::Success
    } else {
        Phase::ModeCollapse { learned, missing }
    };
    Some(Claim1 {
        left,
        tau_eta_sq: te,
        right,
        left_holds: left <= te,
        right_holds: te < right,
        p_star,
        modes,
        predicted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdgan_model::ModelConfig;

    fn fig1(eta: f64) -> Model {
        ModelConfig::figure1(5000, eta).validate("model").unwrap()
    }

    /// Hand-computed Figure 1 values: left side (1/2)(0.2 * 5) = 0.5, tau eta^2 = 0.2 * 4 =
    /// 0.8, right side 3; p*_1 = sqrt(4.2 * 4.8 / 25) = 0.8980, p*_2 = sqrt(2.2 * 3.2 / 9) =
    /// 0.8844.
    #[test]
    fn figure1_success_values() {
        let c = claim1(&fig1(2.0)).unwrap();
        assert!((c.left - 0.5).abs() < 1e-12);
        assert!((c.tau_eta_sq - 0.8).abs() < 1e-12);
        assert!((c.right - 3.0).abs() < 1e-12);
        assert!(c.left_holds && c.right_holds);
        assert!((c.p_star[0].unwrap() - (4.2f64 * 4.8 / 25.0).sqrt()).abs() < 1e-12);
        assert!((c.p_star[1].unwrap() - (2.2f64 * 3.2 / 9.0).sqrt()).abs() < 1e-12);
        assert!((c.p_star[0].unwrap() - 0.898).abs() < 5e-4);
        assert!((c.p_star[1].unwrap() - 0.884).abs() < 5e-4);
        assert_eq!(c.predicted, Phase::Success);
    }

    #[test]
    fn figure1_other_panels() {
        let c = claim1(&fig1(1.0)).unwrap();
        assert!((c.tau_eta_sq - 0.2).abs() < 1e-12);
        assert!(!c.left_holds && c.right_holds);
        assert_eq!(c.predicted, Phase::Oscillation);
        let c = claim1(&fig1(4.0)).unwrap();
        assert!((c.tau_eta_sq - 3.2).abs() < 1e-12);
        assert!(c.left_holds && !c.right_holds);
        assert_eq!(
            c.predicted,
            Phase::ModeCollapse {
                learned: vec![0],
                missing: vec![1]
            }
        );
        // p*_1 = sqrt(1.8 * 7.2 / 25) = 0.72
        assert!((c.p_star[0].unwrap() - 0.72).abs() < 1e-12);
        assert_eq!(c.p_star[1], None);
    }

    #[test]
    fn claim1_is_for_the_quadratic_loss_only() {
        let mut c = ModelConfig::figure1(5000, 2.0);
        c.loss = hdgan_model::LossName::Logistic.into();
        assert_eq!(claim1(&c.validate("model").unwrap()), None);
    }
}
