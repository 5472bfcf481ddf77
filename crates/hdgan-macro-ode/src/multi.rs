//! The limiting ODE with a p-feature discriminator `W` (n x p) and quadratic energy
//! `F = ||W^T y||^2 / 2` (THEORY §8).
//!
//! Finite lambda (regulariser `-(lambda/2) tr H(W^T W)` on the discriminator, as on `V`):
//!
//! ```text
//! dP/dt = tau~ ( Q R^T Lam~ + P L )
//! dQ/dt = tau  ( Lam Q - P Lam~ R + (eta_T - eta_G) Q + Q L_W )
//! dR/dt = tau  ( P^T Lam Q - S Lam~ R + (eta_T - eta_G) R + R L_W ) + tau~ ( Lam~ R Z + L R )
//! dS/dt = tau~ ( R R^T Lam~ + Lam~ R R^T + S L + L S )
//! dZ/dt = tau ( X + X^T ) + tau^2 B
//! X = Q^T Lam Q - R^T Lam~ R + (eta_T - eta_G) Z + Z L_W
//! B = eta_T ( Q^T Lam Q + eta_T Z ) + eta_G ( R^T Lam~ R + eta_G Z )
//! L = -lambda diag H'(diag S),  L_W = -lambda diag H'(diag Z)
//! ```
//!
//! **Constrained (lambda = infinity), derived here.** Projected SGDA rescales every column
//! of `W` and of `V` to unit norm after each step. For column k of `W`, with
//! `D_k = (tau/n) (y y^T - y~ y~^T) w_k`, the rescaling is `1 - w_k^T D_k - |D_k|^2 / 2 +
//! O(n^-3/2)`; per unit time `E[n w_k^T D_k] = tau ((Q^T Lam Q)_kk + eta_T -
//! (R^T Lam~ R)_kk - eta_G)` and `E[n |D_k|^2] = tau^2 (eta_T (Q^T Lam Q)_kk + eta_T^2 +
//! eta_G (R^T Lam~ R)_kk + eta_G^2)` (since `|y|^2 = n eta_T + O(sqrt n)`). The drift term
//! `(eta_T - eta_G) W` and this rescaling combine into one multiplier per column,
//!
//! ```text
//! H_W = diag(h_k),  h_k = (1 - tau eta_G / 2) (R^T Lam~ R)_kk - (1 + tau eta_T / 2) (Q^T Lam Q)_kk - tau eta^2
//! ```
//!
//! (for p = 1 the paper's `h`, eq. 14). The generator's rescaling has no Ito term (its
//! increment is O(1/n) in norm), so `L = -diag(R R^T Lam~)`. Then
//!
//! ```text
//! dQ/dt = tau ( Lam Q - P Lam~ R + Q H_W )
//! dR/dt = tau ( P^T Lam Q - S Lam~ R + R H_W ) + tau~ ( Lam~ R Z + L R )
//! dZ/dt = tau ( X + X^T ) + tau^2 B,   X = Q^T Lam Q - R^T Lam~ R + Z H_W
//! ```
//!
//! with `dP`, `dS` as above. `Z_kk = 1` and `S_jj = 1` are invariant (their derivatives
//! vanish identically; the unit test checks the algebra) while the off-diagonal entries of
//! `Z` move: columns of `W` are normalised, not orthogonalised.

use crate::solve::{OdeError, OdeOptions, integrate};
use hdgan_core::{DMat, Lambda, MultiState, Trajectory};
use hdgan_model::{Model, Regularizer};

fn diag_mat(v: &[f64]) -> DMat {
    DMat::from_diag(v)
}

fn add(a: &DMat, b: &DMat) -> DMat {
    DMat::from_row_major(
        a.rows(),
        a.cols(),
        a.as_slice()
            .iter()
            .zip(b.as_slice())
            .map(|(x, y)| x + y)
            .collect(),
    )
}

fn scale(a: &DMat, c: f64) -> DMat {
    DMat::from_row_major(
        a.rows(),
        a.cols(),
        a.as_slice().iter().map(|x| c * x).collect(),
    )
}

fn lin(terms: &[(f64, &DMat)]) -> DMat {
    let mut out = scale(terms[0].1, terms[0].0);
    for (c, m) in &terms[1..] {
        out = add(&out, &scale(m, *c));
    }
    out
}

/// Which multi-feature ODE: the derived one, or a deliberately wrong one for negative
/// controls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MultiForm {
    /// The ODE of the module documentation.
    #[default]
    Derived,
    /// The Ito terms dropped: no `tau^2 B` in `dZ`, and for lambda = inf the naive
    /// multiplier `h_k = (R^T Lam~ R)_kk - (Q^T Lam Q)_kk` (what one gets by projecting the
    /// drift and forgetting the second-order part of the rescaling). A negative control.
    NoIto,
    /// The orthonormal model (lambda = inf only): `W`, `V` kept orthonormal by
    /// Gram-Schmidt in column order, so `S = I`, `Z = I` and only `P, Q, R` move
    /// (THEORY §8).
    Orthonormal,
    /// The same model with the symmetric (polar) retraction `W (W^T W)^(-1/2)` in place of
    /// Gram-Schmidt: `Phi(G) = G / 2`. hdgan does not simulate it; it is the control that
    /// shows the retraction matters for p > 1 (for p = d = 1 the two coincide).
    OrthonormalPolar,
    /// The ODE published with Bond & Dogan's multi-feature code for the orthonormal model
    /// (their `ode.py`), kept as a named negative control: the Gram-Schmidt correction
    /// written with entry-wise (Hadamard) products, `h_Q = (1 - tau eta_G / 2) (R^T Lam~ R) o Q
    /// - (1 + tau eta_T / 2) (Q^T Lam Q) o Q - tau (eta_T^2 + eta_G^2) / 2 Q` (and `h_R` alike),
    /// the generator's with the full matrix `L = R R^T Lam~`, `dZ = 0` and a moving `S`. It
    /// equals [`MultiForm::Orthonormal`] on diagonal overlaps (their synthetic setting) and
    /// not off them. Defined for `d = p` (the entry-wise products need it) or `p = 1`.
    AnchorElementwise,
}

impl MultiForm {
    /// The ODE of the model: [`MultiForm::Orthonormal`] for `model.constraint =
    /// "orthonormal"`, [`MultiForm::Derived`] otherwise.
    pub fn for_model(model: &Model) -> Self {
        if model.constraint() == hdgan_model::Constraint::Orthonormal {
            MultiForm::Orthonormal
        } else {
            MultiForm::Derived
        }
    }
}

/// The quantities every multi-feature right-hand side starts from: the second moments,
/// the rates and noise variances, `Q^T Lam Q` and `R^T Lam~ R`.
struct Terms {
    lam: DMat,
    lt: DMat,
    tau: f64,
    tt: f64,
    et: f64,
    eg: f64,
    qlq: DMat,
    rlr: DMat,
}

impl Terms {
    fn new(model: &Model, s: &MultiState) -> Self {
        let lam = model.latent().second_moment().matrix().clone();
        let lt = model.latent_tilde().second_moment().matrix().clone();
        let qlq = s.q.transpose().matmul(&lam.matmul(&s.q));
        let rlr = s.r.transpose().matmul(&lt.matmul(&s.r));
        Self {
            lam,
            lt,
            tau: model.tau(),
            tt: model.tau_tilde(),
            et: model.eta_t(),
            eg: model.eta_g(),
            qlq,
            rlr,
        }
    }
}

/// The multi-feature right-hand side without forcing the invariant diagonals of the
/// constrained case to zero (exposed to the tests, which check that they vanish).
fn rhs_raw(model: &Model, form: MultiForm, s: &MultiState) -> MultiState {
    let ito = if form == MultiForm::Derived { 1.0 } else { 0.0 };
    let (d, p) = (s.d(), s.p_features());
    let Terms {
        lam,
        lt,
        tau,
        tt,
        et,
        eg,
        qlq,
        rlr,
    } = Terms::new(model, s);
    let lt_r = lt.matmul(&s.r);
    // Per-column multipliers of W (hw) and V (l); for finite lambda the drift's
    // (eta_T - eta_G) is kept separate (e), for lambda = inf it is inside hw.
    let (hw, l, e): (Vec<f64>, Vec<f64>, f64) = match model.lambda() {
        Lambda::Finite(lambda) => {
            let reg = model.regularizer();
            (
                (0..p).map(|k| -lambda * reg.h_prime(s.z[(k, k)])).collect(),
                (0..d).map(|j| -lambda * reg.h_prime(s.s[(j, j)])).collect(),
                et - eg,
            )
        }
        Lambda::Infinite => {
            let rrl = s.r.matmul(&s.r.transpose()).matmul(&lt);
            (
                (0..p)
                    .map(|k| {
                        (1.0 - ito * 0.5 * tau * eg) * rlr[(k, k)]
                            - (1.0 + ito * 0.5 * tau * et) * qlq[(k, k)]
                            - ito * tau * model.eta_sq()
                    })
                    .collect(),
                (0..d).map(|j| -rrl[(j, j)]).collect(),
                0.0,
            )
        }
    };
    let (hw_m, l_m) = (diag_mat(&hw), diag_mat(&l));
    let dq = lin(&[
        (tau, &lam.matmul(&s.q)),
        (-tau, &s.p.matmul(&lt_r)),
        (tau * e, &s.q),
        (tau, &s.q.matmul(&hw_m)),
    ]);
    let dr = lin(&[
        (tau, &s.p.transpose().matmul(&lam.matmul(&s.q))),
        (-tau, &s.s.matmul(&lt_r)),
        (tau * e, &s.r),
        (tau, &s.r.matmul(&hw_m)),
        (tt, &lt_r.matmul(&s.z)),
        (tt, &l_m.matmul(&s.r)),
    ]);
    let dp = lin(&[
        (tt, &s.q.matmul(&lt_r.transpose())),
        (tt, &s.p.matmul(&l_m)),
    ]);
    let rr = s.r.matmul(&s.r.transpose());
    let ds = lin(&[
        (tt, &rr.matmul(&lt)),
        (tt, &lt.matmul(&rr)),
        (tt, &s.s.matmul(&l_m)),
        (tt, &l_m.matmul(&s.s)),
    ]);
    let x = lin(&[
        (1.0, &qlq),
        (-1.0, &rlr),
        (e, &s.z),
        (1.0, &s.z.matmul(&hw_m)),
    ]);
    let b = lin(&[(et, &qlq), (et * et, &s.z), (eg, &rlr), (eg * eg, &s.z)]);
    let dz = lin(&[(tau, &x), (tau, &x.transpose()), (ito * tau * tau, &b)]);
    MultiState {
        p: dp,
        q: dq,
        r: dr,
        s: ds,
        z: dz,
    }
}

/// `Phi(G)`: the strict upper triangle of `G` plus half its diagonal. To first order the R
/// factor of the QR decomposition of `I + E` is `I + Phi(E)` (for symmetric `E`).
fn upper_half(g: &DMat) -> DMat {
    let mut out = DMat::zeros(g.rows(), g.cols());
    for i in 0..g.rows() {
        out[(i, i)] = 0.5 * g[(i, i)];
        for j in (i + 1)..g.cols() {
            out[(i, j)] = g[(i, j)];
        }
    }
    out
}

/// The orthonormal model's ODE (lambda = inf, `W^T W = I_p` and `V^T V = I_d` kept by
/// Gram-Schmidt in column order after every step; THEORY §8):
///
/// ```text
/// G_W = tau (X0 + X0^T) + tau^2 B0,  X0 = Q^T Lam Q - R^T Lam~ R + (eta_T - eta_G) I
/// B0  = eta_T (Q^T Lam Q + eta_T I) + eta_G (R^T Lam~ R + eta_G I)
/// G_V = tau~ (R R^T Lam~ + Lam~ R R^T)
/// dP/dt = tau~ Q R^T Lam~ - P Phi(G_V)
/// dQ/dt = tau (Lam Q - P Lam~ R + (eta_T - eta_G) Q) - Q Phi(G_W)
/// dR/dt = tau (P^T Lam Q - Lam~ R + (eta_T - eta_G) R) + tau~ Lam~ R - Phi(G_V)^T R - R Phi(G_W)
/// ```
///
/// with `Phi` the upper triangle plus half the diagonal ([`upper_half`]); `dS = dZ = 0`.
fn orthonormal_rhs(model: &Model, s: &MultiState, polar: bool) -> MultiState {
    let (d, p) = (s.d(), s.p_features());
    let Terms {
        lam,
        lt,
        tau,
        tt,
        et,
        eg,
        qlq,
        rlr,
    } = Terms::new(model, s);
    let eye_p = DMat::identity(p);
    let x0 = lin(&[(1.0, &qlq), (-1.0, &rlr), (et - eg, &eye_p)]);
    let b0 = lin(&[(et, &qlq), (et * et, &eye_p), (eg, &rlr), (eg * eg, &eye_p)]);
    let mut g_w = lin(&[(tau, &x0), (tau, &x0.transpose()), (tau * tau, &b0)]);
    symmetrize(&mut g_w);
    let rr = s.r.matmul(&s.r.transpose());
    let mut g_v = lin(&[(tt, &rr.matmul(&lt)), (tt, &lt.matmul(&rr))]);
    symmetrize(&mut g_v);
    let phi = |g: &DMat| if polar { scale(g, 0.5) } else { upper_half(g) };
    let (phi_w, phi_v) = (phi(&g_w), phi(&g_v));
    let lt_r = lt.matmul(&s.r);
    let dp = lin(&[
        (tt, &s.q.matmul(&lt_r.transpose())),
        (-1.0, &s.p.matmul(&phi_v)),
    ]);
    let dq = lin(&[
        (tau, &lam.matmul(&s.q)),
        (-tau, &s.p.matmul(&lt_r)),
        (tau * (et - eg), &s.q),
        (-1.0, &s.q.matmul(&phi_w)),
    ]);
    let dr = lin(&[
        (tau, &s.p.transpose().matmul(&lam.matmul(&s.q))),
        (-tau, &lt_r),
        (tau * (et - eg), &s.r),
        (tt, &lt_r),
        (-1.0, &phi_v.transpose().matmul(&s.r)),
        (-1.0, &s.r.matmul(&phi_w)),
    ]);
    MultiState {
        p: dp,
        q: dq,
        r: dr,
        s: DMat::zeros(d, d),
        z: DMat::zeros(p, p),
    }
}

/// [`MultiForm::AnchorElementwise`]: Bond & Dogan's published ODE, transcribed term by term
/// (a negative control; not symmetric by construction, as published).
fn anchor_rhs(model: &Model, s: &MultiState) -> MultiState {
    let Terms {
        lam,
        lt,
        tau,
        tt,
        et,
        eg,
        qlq,
        rlr,
    } = Terms::new(model, s);
    // The entry-wise product of a p x p matrix with a d x p one (d = p; a 1 x 1 factor
    // broadcasts, as NumPy does).
    let had = |a: &DMat, b: &DMat| -> DMat {
        let mut out = b.clone();
        for i in 0..b.rows() {
            for k in 0..b.cols() {
                let ai = if a.rows() == 1 { 0 } else { i };
                let ak = if a.cols() == 1 { 0 } else { k };
                out[(i, k)] *= a[(ai, ak)];
            }
        }
        out
    };
    let (c1, c2, c3) = (
        1.0 - 0.5 * tau * eg,
        1.0 + 0.5 * tau * et,
        0.5 * tau * (eg * eg + et * et),
    );
    let h = |x: &DMat| lin(&[(c1, &had(&rlr, x)), (-c2, &had(&qlq, x)), (-c3, x)]);
    let l = s.r.matmul(&s.r.transpose()).matmul(&lt);
    let lt_r = lt.matmul(&s.r);
    let dp = lin(&[(tt, &s.q.matmul(&lt_r.transpose())), (-tt, &s.p.matmul(&l))]);
    let dq = lin(&[
        (tau, &lam.matmul(&s.q)),
        (-tau, &s.p.matmul(&lt_r)),
        (tau, &h(&s.q)),
    ]);
    let dr = lin(&[
        (tt, &lt_r),
        (-tt, &l.matmul(&s.r)),
        (tau, &s.p.transpose().matmul(&lam.matmul(&s.q))),
        (-tau, &s.s.matmul(&lt_r)),
        (tau, &h(&s.r)),
    ]);
    let rr = s.r.matmul(&s.r.transpose());
    let ds = lin(&[
        (tt, &rr.matmul(&lt)),
        (tt, &lt.matmul(&rr)),
        (-tt, &s.s.matmul(&l)),
        (-tt, &l.matmul(&s.s)),
    ]);
    MultiState {
        p: dp,
        q: dq,
        r: dr,
        s: ds,
        z: DMat::zeros(s.p_features(), s.p_features()),
    }
}

/// Replaces `a` by `(a + a^T) / 2`, exactly symmetric.
fn symmetrize(a: &mut DMat) {
    for i in 0..a.rows() {
        for j in (i + 1)..a.cols() {
            let m = 0.5 * (a[(i, j)] + a[(j, i)]);
            a[(i, j)] = m;
            a[(j, i)] = m;
        }
    }
}

/// Right-hand side of the multi-feature ODE (module documentation) at `s`: the general
/// form for finite lambda, the constrained one (with `dZ_kk = dS_jj = 0` exactly) for
/// lambda = infinity. Quadratic energy only.
///
/// Symmetric by construction: it is evaluated on the symmetric parts of `S` and `Z` and
/// returns exactly symmetric `dS`, `dZ`, so a path started symmetric stays so bit for bit.
/// (Evaluated as written, the products round differently in the two triangles, and the
/// antisymmetric part of `Z` is an unstable direction of the ODE: it grew from 1e-16 like
/// `exp(tau^2 (eta_T^2 + eta_G^2) t)` until the solve diverged near t = 170.)
pub fn multi_rhs(model: &Model, form: MultiForm, s: &MultiState) -> MultiState {
    if matches!(form, MultiForm::Orthonormal | MultiForm::OrthonormalPolar) {
        return orthonormal_rhs(model, s, form == MultiForm::OrthonormalPolar);
    }
    if form == MultiForm::AnchorElementwise {
        return anchor_rhs(model, s);
    }
    let mut sym = s.clone();
    symmetrize(&mut sym.s);
    symmetrize(&mut sym.z);
    let mut out = rhs_raw(model, form, &sym);
    symmetrize(&mut out.s);
    symmetrize(&mut out.z);
    if model.lambda().is_infinite() {
        for j in 0..s.d() {
            out.s[(j, j)] = 0.0;
        }
        for k in 0..s.p_features() {
            out.z[(k, k)] = 0.0;
        }
    }
    out
}

/// Integrates the multi-feature ODE from `init` and returns the state at every time in
/// `times` (non-decreasing, finite).
pub fn solve_multi(
    model: &Model,
    form: MultiForm,
    init: &MultiState,
    times: &[f64],
    opts: &OdeOptions,
) -> Result<Trajectory<MultiState>, OdeError> {
    let _span =
        tracing::debug_span!("ode_solve_multi", ?form, t_end = times.last().copied()).entered();
    model.require_quadratic("the multi-feature ODE")?;
    if matches!(
        form,
        MultiForm::Orthonormal | MultiForm::OrthonormalPolar | MultiForm::AnchorElementwise
    ) && !model.lambda().is_infinite()
    {
        return Err(hdgan_core::ParamError::rule(
            "model.lambda",
            "must be \"inf\" for the orthonormal model (it is a constraint)",
        )
        .into());
    }
    let (d, p) = (init.d(), init.p_features());
    if form == MultiForm::AnchorElementwise && d != p && p != 1 {
        return Err(hdgan_core::ParamError::rule(
            "model.p",
            format!(
                "must equal model.d or be 1 for the anchor's entry-wise ODE (its Hadamard products need p x p = d x p), got d = {d}, p = {p}"
            ),
        )
        .into());
    }
    let names = MultiState::column_names(d, p);
    let f = |y: &[f64], dy: &mut [f64]| {
        let v = multi_rhs(model, form, &MultiState::unpack(d, p, y)).pack();
        dy.copy_from_slice(&v);
    };
    let flat = integrate(&f, &names, &init.pack(), times, opts)?;
    let mut out = Trajectory::new();
    for (t, y) in times.iter().zip(&flat) {
        out.push(*t, MultiState::unpack(d, p, y));
    }
    out.states[0] = init.clone();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HForm, general_rhs, reduced_rhs};
    use hdgan_model::{LambdaValue, LatentConfig, ModelConfig};

    fn model(lambda: LambdaValue, p: usize) -> Model {
        let mut c = ModelConfig::figure1(1000, 1.5);
        c.eta_g = 0.7;
        c.lambda = lambda;
        c.p = p;
        c.latent = LatentConfig::diagonal(&[5.0, 3.0]);
        c.latent_tilde = Some(LatentConfig {
            cov: vec![vec![2.0, 0.4], vec![0.4, 1.0]],
            mean: None,
            classes: Vec::new(),
            from_data: None,
        });
        c.validate("model").unwrap()
    }

    fn state(p: usize) -> MultiState {
        let mut s = MultiState::zeros(2, p);
        let vals = [0.3, -0.2, 0.5, 0.1, 0.25, -0.4, 0.6, 0.05, 0.35];
        for i in 0..2 {
            for j in 0..2 {
                s.p[(i, j)] = vals[(i * 2 + j) % 9];
            }
            for k in 0..p {
                s.q[(i, k)] = vals[(3 + i + 2 * k) % 9];
                s.r[(i, k)] = vals[(5 + i + k) % 9] - 0.1;
            }
        }
        s.s = DMat::from_row_major(2, 2, vec![1.0, 0.2, 0.2, 1.0]);
        s.z = DMat::identity(p);
        for k in 0..p {
            for l in 0..p {
                if k != l {
                    s.z[(k, l)] = 0.1;
                }
            }
        }
        s
    }

    /// p = 1 reproduces the single-feature ODEs: (8) with the corrected h for finite
    /// lambda, (13)-(14) for lambda = infinity.
    #[test]
    fn one_feature_is_the_paper() {
        let s1 = state(1).to_single().unwrap();
        let m = model(LambdaValue::Number(2.0), 1);
        let want = MultiState::from_single(&general_rhs(&m, &s1, HForm::Corrected));
        let got = multi_rhs(&m, MultiForm::Derived, &state(1));
        assert!(
            got.gram().max_abs_diff(&want.gram()) < 1e-12,
            "{got:?} vs {want:?}"
        );
        let mi = model(LambdaValue::Text("inf".into()), 1);
        let want = MultiState::from_single(&reduced_rhs(&mi, &s1));
        let got = multi_rhs(&mi, MultiForm::Derived, &state(1));
        // reduced_rhs leaves dz = 0 and dS_jj = 0 as the multi form does.
        let (a, b) = (got.pack(), want.pack());
        let err = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        assert!(err < 1e-12, "{a:?} vs {b:?}");
    }

    /// The orthonormal model with d = p = 1 is the reduced ODE (13)-(14) (one column each:
    /// orthonormal = normalised), and for d = p = 2 it differs from the column-normalised
    /// one (the off-diagonal of Phi moves Q and R).
    #[test]
    fn orthonormal_one_feature_is_the_reduced_ode() {
        let mut c = ModelConfig::figure1(1000, 1.5);
        c.eta_g = 0.7;
        c.d = 1;
        c.latent = LatentConfig::diagonal(&[5.0]);
        let m = c.validate("model").unwrap();
        let mut s = MultiState::zeros(1, 1);
        s.p[(0, 0)] = 0.4;
        s.q[(0, 0)] = 0.3;
        s.r[(0, 0)] = -0.2;
        s.s[(0, 0)] = 1.0;
        s.z[(0, 0)] = 1.0;
        let got = multi_rhs(&m, MultiForm::Orthonormal, &s);
        let want = MultiState::from_single(&reduced_rhs(&m, &s.to_single().unwrap()));
        let err = got
            .pack()
            .iter()
            .zip(want.pack())
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        assert!(err < 1e-12, "{got:?} vs {want:?}");
        let mi = model(LambdaValue::Text("inf".into()), 2);
        let mut s2 = state(2);
        s2.z = DMat::identity(2);
        s2.s = DMat::identity(2);
        let a = multi_rhs(&mi, MultiForm::Orthonormal, &s2);
        let b = multi_rhs(&mi, MultiForm::Derived, &s2);
        assert!(a.q.max_abs_diff(&b.q) > 1e-3);
        assert_eq!(a.z, DMat::zeros(2, 2));
    }

    /// The anchor's entry-wise ODE equals the orthonormal model's on diagonal overlaps
    /// (S = Z = I, diagonal P, Q, R) and differs off them.
    #[test]
    fn anchor_ode_agrees_on_the_diagonal_only() {
        let mi = model(LambdaValue::Text("inf".into()), 2);
        let mut s = MultiState::zeros(2, 2);
        s.p = DMat::from_diag(&[0.3, -0.2]);
        s.q = DMat::from_diag(&[0.4, 0.25]);
        s.r = DMat::from_diag(&[0.1, 0.05]);
        s.s = DMat::identity(2);
        s.z = DMat::identity(2);
        // The generator's latent law set to the data's.
        let diag = mi.with_config(|c| c.latent_tilde = None).unwrap();
        let a = multi_rhs(&diag, MultiForm::AnchorElementwise, &s);
        let b = multi_rhs(&diag, MultiForm::Orthonormal, &s);
        let err = a
            .pack()
            .iter()
            .zip(b.pack())
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        assert!(err < 1e-12, "{a:?} vs {b:?}");
        let mut g = state(2);
        g.s = DMat::identity(2);
        g.z = DMat::identity(2);
        let a = multi_rhs(&mi, MultiForm::AnchorElementwise, &g);
        let b = multi_rhs(&mi, MultiForm::Orthonormal, &g);
        assert!(a.q.max_abs_diff(&b.q) > 1e-3, "{a:?} vs {b:?}");
        // d = 3, p = 2 has no entry-wise product: refused, naming model.p.
        let mut c3 = ModelConfig::figure1(1000, 2.0);
        c3.p = 2;
        c3.d = 3;
        c3.latent = LatentConfig::diagonal(&[5.0, 3.0, 2.0]);
        let m3 = c3.validate("model").unwrap();
        let mut s3 = MultiState::zeros(3, 2);
        s3.s = DMat::identity(3);
        s3.z = DMat::identity(2);
        let e = solve_multi(
            &m3,
            MultiForm::AnchorElementwise,
            &s3,
            &[0.0, 1.0],
            &OdeOptions::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("model.p"), "{e}");
    }

    /// Constrained case: the unit diagonals of S and Z are invariant by the algebra of the
    /// multipliers (not only because they are forced), for any state with unit diagonals.
    #[test]
    fn constrained_diagonals_are_invariant() {
        let m = model(LambdaValue::Text("inf".into()), 3);
        let raw = rhs_raw(&m, MultiForm::Derived, &state(3));
        for k in 0..3 {
            assert!(raw.z[(k, k)].abs() < 1e-12, "dZ_{k}{k} = {}", raw.z[(k, k)]);
        }
        for j in 0..2 {
            assert!(raw.s[(j, j)].abs() < 1e-12, "dS_{j}{j} = {}", raw.s[(j, j)]);
        }
    }

    /// The multi-feature config's ODE (d = p = 2, lambda = inf, eta_T = eta_G = 2) to
    /// T = 400: S and Z stay exactly symmetric and nothing diverges (before the right-hand
    /// side was made symmetric by construction, Z's antisymmetric part grew from round-off
    /// and the solve diverged near t = 170).
    #[test]
    fn multi_feature_config_runs_to_400_symmetric() {
        // configs/multi-feature.toml: tau~ = 0.1, P0 = 0.3 I, Q0 = [[0.3, 0.1], [0.1, 0.4]].
        let mut c = ModelConfig::figure1(2000, 2.0);
        c.p = 2;
        c.tau_tilde = 0.1;
        let m = c.validate("model").unwrap();
        let mut init = MultiState::zeros(2, 2);
        init.p = DMat::from_row_major(2, 2, vec![0.3, 0.0, 0.0, 0.3]);
        init.q = DMat::from_row_major(2, 2, vec![0.3, 0.1, 0.1, 0.4]);
        init.r = init.p.transpose().matmul(&init.q);
        init.s = DMat::identity(2);
        init.z = DMat::from_row_major(2, 2, vec![1.0, 0.07, 0.07, 1.0]);
        let times: Vec<f64> = (0..=40).map(|k| 10.0 * k as f64).collect();
        let traj = solve_multi(
            &m,
            MultiForm::Derived,
            &init,
            &times,
            &OdeOptions::default(),
        )
        .expect("no divergence to T = 400");
        for st in &traj.states {
            assert_eq!(st.z[(0, 1)].to_bits(), st.z[(1, 0)].to_bits());
            assert_eq!(st.s[(0, 1)].to_bits(), st.s[(1, 0)].to_bits());
            assert!(st.is_finite());
        }
    }

    /// Z stays symmetric; a zero-column state stays zero in P, Q, R.
    #[test]
    fn symmetric_and_solvable() {
        let m = model(LambdaValue::Number(3.0), 2);
        let d = multi_rhs(&m, MultiForm::Derived, &state(2));
        assert!(d.z.max_abs_diff(&d.z.transpose()) < 1e-14);
        assert!(d.s.max_abs_diff(&d.s.transpose()) < 1e-14);
        let traj = solve_multi(
            &m,
            MultiForm::Derived,
            &state(2),
            &[0.0, 1.0, 2.0],
            &OdeOptions::default(),
        )
        .unwrap();
        assert_eq!(traj.len(), 3);
        assert!(traj.states[2].is_finite());
    }
}
