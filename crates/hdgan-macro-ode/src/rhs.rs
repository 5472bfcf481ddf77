use hdgan_core::MacroState;
use hdgan_model::{DiscriminatorLoss, HForm, Model, OdeCoefficients};

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
/// `form` picks the corrected `h` of THEORY §4 or the paper's printed one.
pub fn general_rhs(model: &Model, state: &MacroState, form: HForm) -> MacroState {
    assemble(model, state, &model.ode_coefficients(state, form))
}

/// [`general_rhs`] with the averages of `loss` in place of the model's (e.g.
/// [`hdgan_model::ByQuadrature`] to check the quadrature route against closed forms).
pub fn general_rhs_with(
    model: &Model,
    loss: &dyn DiscriminatorLoss,
    state: &MacroState,
    form: HForm,
) -> MacroState {
    assemble(
        model,
        state,
        &model.ode_coefficients_with(loss, state, form),
    )
}

/// Equations (8) at `state` from given coefficients `(g, g~, h, L, b)`: the one place the
/// general and the reduced right-hand sides (for any loss) are written.
fn assemble(model: &Model, state: &MacroState, c: &OdeCoefficients) -> MacroState {
    let d = state.d();
    let (tau, tt) = (model.tau(), model.tau_tilde());
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

/// The coefficients of the reduced ODE (lambda = infinity) for any loss at a state on the
/// constraint: the loss's averages `g, g~, b` at `z = 1`
/// ([`hdgan_model::DiscriminatorLoss::moments`]) and the multipliers that hold `z = 1` and
/// `S_jj = 1` (THEORY §4.1):
///
/// ```text
/// h   = -(q^T g - r^T g~) - tau b / 2        (from dz/dt = 0 at z = 1)
/// L_j = -r_j g~_j                            (from dS_jj/dt = 0 at S_jj = 1)
/// ```
///
/// For the quadratic loss `h` is eq. (14)'s ([`reduced_h`]) up to round-off.
pub fn reduced_coefficients(
    model: &Model,
    loss: &dyn DiscriminatorLoss,
    state: &MacroState,
) -> OdeCoefficients {
    let m = loss.moments(model.moment_point(&state.q, &state.r, 1.0));
    let b = model.eta_t() * m.f_sq_mean + model.eta_g() * m.f_tilde_sq_mean;
    let qg: f64 = state.q.iter().zip(&m.g).map(|(a, b)| a * b).sum();
    let rgt: f64 = state.r.iter().zip(&m.g_tilde).map(|(a, b)| a * b).sum();
    OdeCoefficients {
        h: -(qg - rgt) - 0.5 * model.tau() * b,
        l: state
            .r
            .iter()
            .zip(&m.g_tilde)
            .map(|(r, g)| -r * g)
            .collect(),
        b,
        g: m.g,
        g_tilde: m.g_tilde,
    }
}

/// The reduced ODE (lambda = infinity) for the model's loss: the general ODE (8) with the
/// regulariser's terms replaced by the multipliers of [`reduced_coefficients`]. For the
/// quadratic loss it is (13)-(14) exactly (tested against [`ReducedParams`]).
pub fn reduced_rhs_general(model: &Model, state: &MacroState) -> MacroState {
    reduced_rhs_with(model, &*model.loss(), state)
}

/// [`reduced_rhs_general`] with the averages of `loss` in place of the model's (e.g.
/// [`hdgan_model::ByQuadrature`] to check the quadrature route against closed forms).
pub fn reduced_rhs_with(
    model: &Model,
    loss: &dyn DiscriminatorLoss,
    state: &MacroState,
) -> MacroState {
    let c = reduced_coefficients(model, loss, state);
    // On the constraint surface z = 1, S_jj = 1 the multipliers make these derivatives
    // vanish; they are set to exactly zero so that the path stays on it.
    let mut on = state.clone();
    on.z = 1.0;
    let mut out = assemble(model, &on, &c);
    out.z = 0.0;
    for j in 0..state.d() {
        out.s[(j, j)] = 0.0;
    }
    out
}

/// The multiplier `h` of the reduced ODE (eq. 14):
/// `h = (1 - tau eta_G / 2) r^T Lam~ r - (1 + tau eta_T / 2) q^T Lam q - tau eta^2`.
pub fn reduced_h(model: &Model, state: &MacroState) -> f64 {
    let lam = model.latent().second_moment().matrix();
    let lam_t = model.latent_tilde().second_moment().matrix();
    let qlq = lam.quad_form(&state.q);
    let rlr = lam_t.quad_form(&state.r);
    (1.0 - 0.5 * model.tau() * model.eta_g()) * rlr
        - (1.0 + 0.5 * model.tau() * model.eta_t()) * qlq
        - model.tau() * model.eta_sq()
}

/// The constants of the reduced ODE (13)-(14) for one model, laid out for an
/// allocation-free right-hand side on the flat state ([`MacroState::pack`] order).
#[derive(Clone, Debug, PartialEq)]
pub struct ReducedParams {
    d: usize,
    tau: f64,
    tau_tilde: f64,
    /// `Lam`, row-major.
    lam: Vec<f64>,
    /// `Lam~`, row-major.
    lam_t: Vec<f64>,
    /// `1 - tau eta_G / 2`.
    a_g: f64,
    /// `1 + tau eta_T / 2`.
    a_t: f64,
    /// `tau eta^2`.
    te: f64,
}

/// Largest d handled with stack scratch in [`ReducedParams::rhs`] (larger d allocates).
const STACK_D: usize = 8;

impl ReducedParams {
    /// The constants of `model` (its latent second moments, rates and noise variances).
    pub fn new(model: &Model) -> Self {
        Self {
            d: model.d(),
            tau: model.tau(),
            tau_tilde: model.tau_tilde(),
            lam: model.latent().second_moment().matrix().as_slice().to_vec(),
            lam_t: model
                .latent_tilde()
                .second_moment()
                .matrix()
                .as_slice()
                .to_vec(),
            a_g: 1.0 - 0.5 * model.tau() * model.eta_g(),
            a_t: 1.0 + 0.5 * model.tau() * model.eta_t(),
            te: model.tau() * model.eta_sq(),
        }
    }

    /// The right-hand side of (13)-(14) on the flat state `y` into `dy` (both of length
    /// `2 d^2 + 2 d + 1`); `dz` and `dS_jj` are exactly zero.
    pub fn rhs(&self, y: &[f64], dy: &mut [f64]) {
        let d = self.d;
        if d <= STACK_D {
            let mut scratch = [0.0f64; 3 * STACK_D];
            self.rhs_with(y, dy, &mut scratch[..3 * d]);
        } else {
            let mut scratch = vec![0.0; 3 * d];
            self.rhs_with(y, dy, &mut scratch);
        }
    }

    fn rhs_with(&self, y: &[f64], dy: &mut [f64], scratch: &mut [f64]) {
        let d = self.d;
        let dd = d * d;
        let (p, rest) = y.split_at(dd);
        let (q, rest) = rest.split_at(d);
        let (r, rest) = rest.split_at(d);
        let s = &rest[..dd];
        let (g, rest) = scratch.split_at_mut(d);
        let (gt, l) = rest.split_at_mut(d);
        let (mut qlq, mut rlr) = (0.0, 0.0);
        for i in 0..d {
            let (mut a, mut b) = (0.0, 0.0);
            for k in 0..d {
                a += self.lam[i * d + k] * q[k];
                b += self.lam_t[i * d + k] * r[k];
            }
            g[i] = a;
            gt[i] = b;
            qlq += q[i] * a;
            rlr += r[i] * b;
        }
        for j in 0..d {
            l[j] = -r[j] * gt[j];
        }
        let h = self.a_g * rlr - self.a_t * qlq - self.te;
        let (tau, tt) = (self.tau, self.tau_tilde);
        let (dp, rest) = dy.split_at_mut(dd);
        let (dq, rest) = rest.split_at_mut(d);
        let (dr, rest) = rest.split_at_mut(d);
        let (ds, dz) = rest.split_at_mut(dd);
        for i in 0..d {
            let (mut p_gt, mut pt_g, mut s_gt) = (0.0, 0.0, 0.0);
            for k in 0..d {
                p_gt += p[i * d + k] * gt[k];
                pt_g += p[k * d + i] * g[k];
                s_gt += s[i * d + k] * gt[k];
            }
            for j in 0..d {
                dp[i * d + j] = tt * (q[i] * gt[j] + p[i * d + j] * l[j]);
                ds[i * d + j] = if i == j {
                    0.0
                } else {
                    tt * (r[i] * gt[j] + gt[i] * r[j] + s[i * d + j] * (l[i] + l[j]))
                };
            }
            dq[i] = tau * (g[i] - p_gt + h * q[i]);
            dr[i] = tau * (pt_g - s_gt + h * r[i]) + tt * (gt[i] + l[i] * r[i]);
        }
        dz[0] = 0.0;
    }
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
/// The derivatives of `z` and of the diagonal of `S` are set to exactly zero. (The
/// integrator uses [`ReducedParams::rhs`], the same formula without allocations.) Another
/// loss goes to [`reduced_rhs_general`].
pub fn reduced_rhs(model: &Model, state: &MacroState) -> MacroState {
    if model.loss() != hdgan_model::Loss::Quadratic {
        return reduced_rhs_general(model, state);
    }
    let d = state.d();
    let y = state.pack();
    let mut dy = vec![0.0; y.len()];
    ReducedParams::new(model).rhs(&y, &mut dy);
    MacroState::unpack(d, &dy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdgan_model::{LambdaValue, LatentConfig, ModelConfig};

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
                classes: Vec::new(),
                from_data: None,
            }),
            // loss, l1, p: Example 1 defaults.
            ..ModelConfig::figure1(1000, 2.0)
        }
        .validate("model")
        .unwrap()
    }

    #[test]
    fn general_reduced_rhs_is_eq_13_14_for_the_quadratic_loss() {
        let m = model(LambdaValue::default(), 2.0, 1.0);
        let mut s = state();
        s.z = 1.0;
        s.s[(0, 0)] = 1.0;
        s.s[(1, 1)] = 1.0;
        let a = reduced_rhs(&m, &s).pack();
        let b = reduced_rhs_general(&m, &s).pack();
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-12, "{x} vs {y}");
        }
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

    /// The flat implementation against the equations written with `DMat` operations.
    #[test]
    fn flat_rhs_matches_the_matrix_form() {
        let m = model(LambdaValue::default(), 1.5, 0.5);
        let st = state();
        let lam = m.latent().second_moment().matrix();
        let lt = m.latent_tilde().second_moment().matrix();
        let (tau, tt) = (m.tau(), m.tau_tilde());
        let g = lam.mul_vec(&st.q);
        let gt = lt.mul_vec(&st.r);
        let l: Vec<f64> = (0..2).map(|j| -st.r[j] * gt[j]).collect();
        let h = reduced_h(&m, &st);
        let p_gt = st.p.mul_vec(&gt);
        let pt_g = st.p.t_mul_vec(&g);
        let s_gt = st.s.mul_vec(&gt);
        let out = reduced_rhs(&m, &st);
        for i in 0..2 {
            assert!((out.q[i] - tau * (g[i] - p_gt[i] + h * st.q[i])).abs() < 1e-14);
            let dr = tau * (pt_g[i] - s_gt[i] + h * st.r[i]) + tt * (gt[i] + l[i] * st.r[i]);
            assert!((out.r[i] - dr).abs() < 1e-14);
            for j in 0..2 {
                let dp = tt * (st.q[i] * gt[j] + st.p[(i, j)] * l[j]);
                assert!((out.p[(i, j)] - dp).abs() < 1e-14);
            }
        }
        let ds01 = tt * (st.r[0] * gt[1] + gt[0] * st.r[1] + st.s[(0, 1)] * (l[0] + l[1]));
        assert!((out.s[(0, 1)] - ds01).abs() < 1e-14 && (out.s[(1, 0)] - ds01).abs() < 1e-14);
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
        let lam = m.latent().second_moment().matrix();
        let lam_t = m.latent_tilde().second_moment().matrix();
        let h = reduced_h(&m, &s);
        let qg = lam.quad_form(&s.q);
        let rgt = lam_t.quad_form(&s.r);
        // In (8) the multiplier -lambda H'(z) is part of h, so eq. 14's h must make the
        // general z equation vanish at z = 1: 2 tau (q^T g - r^T g~ + h) + tau^2 b = 0.
        let b = m.eta_t() * (qg + m.eta_t()) + m.eta_g() * (rgt + m.eta_g());
        let dz = 2.0 * m.tau() * (qg - rgt + h) + m.tau() * m.tau() * b;
        assert!(dz.abs() < 1e-14, "dz = {dz}");
    }
}
