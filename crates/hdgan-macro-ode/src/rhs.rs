use hdgan_core::MacroState;
use hdgan_model::{HForm, Model};

/// Right-hand side of the general ODE (8) at `state`, with the coefficients (9) from the
/// model ([`Model::ode_coefficients`]):
///
/// ```text
/// dP/dt = tau~ ( q g~^T + P L )
/// dq/dt = tau  ( g - P g~ + h q )
/// dr/dt = tau  ( P^T g - S g~ + h r ) + tau~ ( z g~ + L r )
/// dS/dt = tau~ ( r g~^T + g~ r^T + S L + L S )
/// dz/dt = 2 tau ( q^T g - r^T g~ + z h ) + tau^2 b
/// ```
///
/// `form` picks the corrected `h` of SPEC §4 or the paper's printed one.
pub fn general_rhs(model: &Model, state: &MacroState, form: HForm) -> MacroState {
    let d = state.d();
    let c = model.ode_coefficients(state, form);
    let (tau, tt) = (model.tau, model.tau_tilde);
    let (g, gt, l) = (&c.g, &c.g_tilde, &c.l);
    let mut out = MacroState::zeros(d);
    let p_gt = state.p.mul_vec(gt);
    let pt_g = state.p.t_mul_vec(g);
    let s_gt = state.s.mul_vec(gt);
    for i in 0..d {
        for j in 0..d {
            out.p[(i, j)] = tt * (state.q[i] * gt[j] + state.p[(i, j)] * l[j]);
            out.s[(i, j)] =
                tt * (state.r[i] * gt[j] + gt[i] * state.r[j] + state.s[(i, j)] * (l[i] + l[j]));
        }
        out.q[i] = tau * (g[i] - p_gt[i] + c.h * state.q[i]);
        out.r[i] = tau * (pt_g[i] - s_gt[i] + c.h * state.r[i])
            + tt * (state.z * gt[i] + l[i] * state.r[i]);
    }
    let qg: f64 = state.q.iter().zip(g).map(|(a, b)| a * b).sum();
    let rgt: f64 = state.r.iter().zip(gt).map(|(a, b)| a * b).sum();
    out.z = 2.0 * tau * (qg - rgt + state.z * c.h) + tau * tau * c.b;
    out
}

/// The multiplier `h` of the reduced ODE (eq. 14):
/// `h = (1 - tau eta_G / 2) r^T Lam~ r - (1 + tau eta_T / 2) q^T Lam q - tau eta^2`.
pub fn reduced_h(model: &Model, state: &MacroState) -> f64 {
    let lam = model.latent.second_moment().matrix();
    let lam_t = model.latent_tilde.second_moment().matrix();
    let qlq = lam.quad_form(&state.q);
    let rlr = lam_t.quad_form(&state.r);
    (1.0 - 0.5 * model.tau * model.eta_g) * rlr
        - (1.0 + 0.5 * model.tau * model.eta_t) * qlq
        - model.tau * model.eta_sq()
}

/// Right-hand side of the reduced ODE (13)-(14) for lambda = infinity and the quadratic
/// loss (Example 1), where `z = 1` and `S_jj = 1` are held fixed and `h`, `L` are Lagrange
/// multipliers:
///
/// ```text
/// dP/dt = tau~ ( q r^T Lam~ + P L )
/// dq/dt = tau  ( Lam q - P Lam~ r + h q )
/// dr/dt = tau  ( P^T Lam q - S Lam~ r + h r ) + tau~ ( Lam~ + L ) r
/// dS/dt = tau~ ( r r^T Lam~ + Lam~ r r^T + S L + L S )
/// L = -diag( r_j (Lam~ r)_j ),  h from [`reduced_h`]
/// ```
///
/// The derivatives of `z` and of the diagonal of `S` are set to exactly zero.
pub fn reduced_rhs(model: &Model, state: &MacroState) -> MacroState {
    let d = state.d();
    let lam = model.latent.second_moment().matrix();
    let lam_t = model.latent_tilde.second_moment().matrix();
    let (tau, tt) = (model.tau, model.tau_tilde);
    let g = lam.mul_vec(&state.q);
    let gt = lam_t.mul_vec(&state.r);
    let l: Vec<f64> = (0..d).map(|j| -state.r[j] * gt[j]).collect();
    let h = reduced_h(model, state);
    let p_gt = state.p.mul_vec(&gt);
    let pt_g = state.p.t_mul_vec(&g);
    let s_gt = state.s.mul_vec(&gt);
    let mut out = MacroState::zeros(d);
    for i in 0..d {
        for j in 0..d {
            out.p[(i, j)] = tt * (state.q[i] * gt[j] + state.p[(i, j)] * l[j]);
            out.s[(i, j)] = if i == j {
                0.0
            } else {
                tt * (state.r[i] * gt[j] + gt[i] * state.r[j] + state.s[(i, j)] * (l[i] + l[j]))
            };
        }
        out.q[i] = tau * (g[i] - p_gt[i] + h * state.q[i]);
        out.r[i] = tau * (pt_g[i] - s_gt[i] + h * state.r[i]) + tt * (gt[i] + l[i] * state.r[i]);
    }
    out.z = 0.0;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdgan_model::{LambdaValue, LatentConfig, LossName, ModelConfig};

    fn model(lambda: LambdaValue, eta_t: f64, eta_g: f64) -> Model {
        ModelConfig {
            n: 1000,
            d: 2,
            tau: 0.2,
            tau_tilde: 0.04,
            eta_t,
            eta_g,
            lambda,
            latent: LatentConfig::diagonal(&[5.0, 3.0]),
            latent_tilde: Some(LatentConfig {
                cov: vec![vec![4.0, 0.5], vec![0.5, 2.0]],
                mean: None,
            }),
            loss: LossName::Quadratic,
        }
        .validate("model")
        .unwrap()
    }

    fn state() -> MacroState {
        let mut s = MacroState::zeros(2);
        s.p = hdgan_core::DMat::from_rows(&[vec![0.3, 0.1], vec![-0.2, 0.4]]).unwrap();
        s.q = vec![0.2, -0.1];
        s.r = vec![0.05, 0.15];
        s.s = hdgan_core::DMat::from_rows(&[vec![1.0, 0.1], vec![0.1, 1.0]]).unwrap();
        s.z = 1.0;
        s
    }

    #[test]
    fn projected_state_stays_on_the_constraint() {
        let m = model(LambdaValue::default(), 2.0, 2.0);
        let ds = reduced_rhs(&m, &state());
        assert!(ds.z.abs() < 1e-300 && ds.s[(0, 0)].abs() < 1e-300 && ds.s[(1, 1)].abs() < 1e-300);
    }

    #[test]
    fn q_r_zero_is_a_fixed_point_of_both_odes() {
        let mut s = state();
        s.q = vec![0.0; 2];
        s.r = vec![0.0; 2];
        let m = model(LambdaValue::default(), 2.0, 2.0);
        assert!(reduced_rhs(&m, &s).pack().iter().all(|x| x.abs() < 1e-15));
    }

    /// The general ODE with its S_jj and z equations kept, at a state on the constraint,
    /// agrees with the reduced one when the multipliers are chosen as in eq. 14: the
    /// reduced h is exactly what keeps dz/dt = 0 in the general z equation.
    #[test]
    fn reduced_h_keeps_z_fixed_in_the_general_z_equation() {
        let m = model(LambdaValue::default(), 1.5, 0.5);
        let s = state();
        let lam = m.latent.second_moment().matrix();
        let lam_t = m.latent_tilde.second_moment().matrix();
        let h = reduced_h(&m, &s);
        let qg = lam.quad_form(&s.q);
        let rgt = lam_t.quad_form(&s.r);
        // In (8) the multiplier -lambda H'(z) is part of h, so eq. 14's h must make the
        // general z equation vanish at z = 1: 2 tau (q^T g - r^T g~ + h) + tau^2 b = 0.
        let b = m.eta_t * (qg + m.eta_t) + m.eta_g * (rgt + m.eta_g);
        let dz = 2.0 * m.tau * (qg - rgt + h) + m.tau * m.tau * b;
        assert!(dz.abs() < 1e-14, "dz = {dz}");
    }
}
