use crate::normal::{fill_normals, normal};
use crate::{Engine, MicroState, SimError, StepMode};
use hdgan_core::{Lambda, MacroState};
use hdgan_model::random::SimRng;
use hdgan_model::{DiscriminatorLoss, Model, Regularizer};

/// Online SGDA on the model of SPEC §1, eq. 5:
///
/// ```text
/// w_{k+1} = w_k + (tau/n)  [ f(y_k^T w_k) y_k - f~(y~_2k^T w_k) y~_2k - lambda H'(w_k^T w_k) w_k ]
/// V_{k+1} = V_k + (tau~/n) [ f~(y~_2k+1^T w_k) w_k c~_2k+1^T - lambda V_k diag(H'(diag V_k^T V_k)) ]
/// ```
///
/// with `y = U c + sqrt(eta_T) a`, `y~ = V c~ + sqrt(eta_G) a~`; for lambda = infinity the H
/// terms are dropped and `w` and every column of `V` are rescaled to unit norm after each
/// step.
///
/// # The fast mode is exact in law
///
/// Write `w^ = w / |w|` and split the real and first fake noise as `a = alpha w^ + a_perp`,
/// `a~ = beta w^ + a~_perp`. The scores only see `alpha`, `beta`:
/// `y^T w = c^T q + sqrt(eta_T z) alpha`, `y~^T w = c~^T r + sqrt(eta_G z) beta`, and
/// `y~_2k+1` enters only through `y~^T w = c~^T r + sqrt(eta_G z) gamma`. Given the scores,
/// the noise left in the w-update, `f sqrt(eta_T) a_perp - f~ sqrt(eta_G) a~_perp`, is
/// Gaussian, isotropic in the complement of `w`, with variance
/// `s^2 = eta_T f^2 + eta_G f~^2` per direction; it is drawn as `s (xi - (xi . w^) w^)` from
/// one n-vector `xi ~ N(0, I_n)`. So the fast mode draws n + 3 normals (plus the latents)
/// per step instead of 3n, and its chain has the same law as the literal one.
///
/// Both modes are O(n d) per step. The fast mode keeps `w` and the columns of `V` as
/// stored vectors times scalar scales, so projection costs no extra pass, and fuses the
/// update with the overlaps `q = U^T w`, `r = V^T w`, `|w|^2`, `|V_j|^2` needed by the
/// next step in one pass over the n-vectors.
#[derive(Clone, Debug)]
pub struct Sgda {
    model: Model,
    mode: StepMode,
    blowup: f64,
    x: MicroState,
    /// Actual w = `w_scale * x.w`.
    w_scale: f64,
    /// Actual V_j = `v_scale[j] * x.v_col(j)`.
    v_scale: Vec<f64>,
    /// Overlaps of the actual state: `q = U^T w`, `r = V^T w`, `z = |w|^2`, `|V_j|^2`.
    q: Vec<f64>,
    r: Vec<f64>,
    z: f64,
    s_diag: Vec<f64>,
    steps: u64,
    buf: Vec<f64>,
    buf0: Vec<f64>,
    buf1: Vec<f64>,
    c: Vec<f64>,
    c0: Vec<f64>,
    c1: Vec<f64>,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Sgda {
    /// An SGDA engine for `model` starting from `x` (e.g. from [`crate::InitState::build`]).
    /// `blowup` bounds the squared norms `z`, `S_jj`; beyond it (or at NaN) a step fails
    /// with [`SimError::Diverged`].
    pub fn new(model: &Model, x: MicroState, mode: StepMode, blowup: f64) -> Self {
        let (n, d) = (x.n, x.d);
        assert_eq!((n, d), (model.n, model.d), "Sgda::new: state and model dimensions differ");
        let mut e = Self {
            model: model.clone(),
            mode,
            blowup,
            w_scale: 1.0,
            v_scale: vec![1.0; d],
            q: vec![0.0; d],
            r: vec![0.0; d],
            z: 0.0,
            s_diag: vec![0.0; d],
            steps: 0,
            buf: vec![0.0; n],
            buf0: if mode == StepMode::Literal { vec![0.0; n] } else { Vec::new() },
            buf1: if mode == StepMode::Literal { vec![0.0; n] } else { Vec::new() },
            c: vec![0.0; d],
            c0: vec![0.0; d],
            c1: vec![0.0; d],
            x,
        };
        e.refresh_overlaps();
        e
    }

    /// The step implementation in use.
    pub fn mode(&self) -> StepMode {
        self.mode
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The current microscopic state (a copy with the scales applied).
    pub fn micro_state(&self) -> MicroState {
        let mut x = self.x.clone();
        self.apply_scales_to(&mut x);
        x
    }

    fn apply_scales_to(&self, x: &mut MicroState) {
        let n = x.n;
        for w in x.w.iter_mut() {
            *w *= self.w_scale;
        }
        for (j, col) in x.v.chunks_exact_mut(n).enumerate() {
            for v in col {
                *v *= self.v_scale[j];
            }
        }
    }

    /// Applies the scales to the stored vectors (scales become 1).
    fn materialize(&mut self) {
        let mut x = std::mem::replace(
            &mut self.x,
            MicroState {
                n: 0,
                d: 0,
                u: Vec::new(),
                v: Vec::new(),
                w: Vec::new(),
            },
        );
        self.apply_scales_to(&mut x);
        self.x = x;
        self.w_scale = 1.0;
        self.v_scale.fill(1.0);
    }

    /// Recomputes `q, r, z, diag S` from the stored vectors and scales.
    fn refresh_overlaps(&mut self) {
        let d = self.x.d;
        let ws = self.w_scale;
        for j in 0..d {
            let vs = self.v_scale[j];
            self.q[j] = ws * dot(self.x.u_col(j), &self.x.w);
            self.r[j] = ws * vs * dot(self.x.v_col(j), &self.x.w);
            self.s_diag[j] = vs * vs * dot(self.x.v_col(j), self.x.v_col(j));
        }
        self.z = ws * ws * dot(&self.x.w, &self.x.w);
    }

    /// Regulariser terms `lambda H'(z)` and `lambda H'(S_jj)` (zero when projected).
    fn regularizer_terms(&self) -> (f64, Vec<f64>) {
        match self.model.lambda {
            Lambda::Finite(l) => {
                let h = self.model.regularizer();
                (
                    l * h.h_prime(self.z),
                    self.s_diag.iter().map(|&s| l * h.h_prime(s)).collect(),
                )
            }
            Lambda::Infinite => (0.0, vec![0.0; self.x.d]),
        }
    }

    fn check(&self) -> Result<(), SimError> {
        let t = self.steps as f64 / self.x.n as f64;
        let err = |quantity: String, value: f64| SimError::Diverged {
            t,
            step: self.steps,
            quantity,
            value,
        };
        if !(self.z.is_finite() && self.z <= self.blowup) {
            return Err(err("z = |w|^2".into(), self.z));
        }
        for (j, &s) in self.s_diag.iter().enumerate() {
            if !(s.is_finite() && s <= self.blowup) {
                return Err(err(format!("S{0}{0} = |V_{0}|^2", j + 1), s));
            }
        }
        for (j, (&q, &r)) in self.q.iter().zip(&self.r).enumerate() {
            if !q.is_finite() {
                return Err(err(format!("q{}", j + 1), q));
            }
            if !r.is_finite() {
                return Err(err(format!("r{}", j + 1), r));
            }
        }
        Ok(())
    }

    /// Eq. 5 as written: three full samples.
    fn step_literal(&mut self, rng: &mut SimRng) {
        self.materialize();
        let m = &self.model;
        let (n, d) = (self.x.n, self.x.d);
        let (a, at) = (m.tau / n as f64, m.tau_tilde / n as f64);
        let (st, sg) = (m.eta_t.sqrt(), m.eta_g.sqrt());
        m.latent.sample(rng, &mut self.c);
        m.latent_tilde.sample(rng, &mut self.c0);
        m.latent_tilde.sample(rng, &mut self.c1);
        // y = U c + sqrt(eta_T) a
        fill_normals(rng, &mut self.buf);
        for x in self.buf.iter_mut() {
            *x *= st;
        }
        for j in 0..d {
            for (y, u) in self.buf.iter_mut().zip(self.x.u_col(j)) {
                *y += self.c[j] * u;
            }
        }
        // y~_2k = V c~_2k + sqrt(eta_G) a~_2k, y~_2k+1 likewise
        for (buf, c) in [(&mut self.buf0, &self.c0), (&mut self.buf1, &self.c1)] {
            fill_normals(rng, buf);
            for x in buf.iter_mut() {
                *x *= sg;
            }
            for (j, &cj) in c.iter().enumerate() {
                for (y, v) in buf.iter_mut().zip(&self.x.v[j * n..(j + 1) * n]) {
                    *y += cj * v;
                }
            }
        }
        let fs = m.loss.f(dot(&self.buf, &self.x.w));
        let fs0 = m.loss.f_tilde(dot(&self.buf0, &self.x.w));
        let fs1 = m.loss.f_tilde(dot(&self.buf1, &self.x.w));
        let (reg_w, reg_v) = self.regularizer_terms();
        // V update uses the old w: do it first.
        for j in 0..d {
            let (kv, kw) = (1.0 - at * reg_v[j], at * fs1 * self.c1[j]);
            for (v, w) in self.x.v[j * n..(j + 1) * n].iter_mut().zip(&self.x.w) {
                *v = kv * *v + kw * w;
            }
        }
        let kw = 1.0 - a * reg_w;
        for ((w, y), y0) in self.x.w.iter_mut().zip(&self.buf).zip(&self.buf0) {
            *w = kw * *w + a * (fs * y - fs0 * y0);
        }
        if m.lambda.is_infinite() {
            let nw = dot(&self.x.w, &self.x.w).sqrt();
            for w in self.x.w.iter_mut() {
                *w /= nw;
            }
            for col in self.x.v.chunks_exact_mut(n) {
                let nv = dot(col, col).sqrt();
                for v in col {
                    *v /= nv;
                }
            }
        }
        self.refresh_overlaps();
    }

    /// The exact-in-law fast step (see the type's documentation).
    fn step_fast(&mut self, rng: &mut SimRng) {
        let m = &self.model;
        let (n, d) = (self.x.n, self.x.d);
        let (a, at) = (m.tau / n as f64, m.tau_tilde / n as f64);
        let (st, sg) = (m.eta_t.sqrt(), m.eta_g.sqrt());
        m.latent.sample(rng, &mut self.c);
        m.latent_tilde.sample(rng, &mut self.c0);
        m.latent_tilde.sample(rng, &mut self.c1);
        let (alpha, beta, gamma) = (normal(rng), normal(rng), normal(rng));
        let zw = self.z.sqrt();
        let fs = m.loss.f(dot(&self.c, &self.q) + st * zw * alpha);
        let fs0 = m.loss.f_tilde(dot(&self.c0, &self.r) + sg * zw * beta);
        let fs1 = m.loss.f_tilde(dot(&self.c1, &self.r) + sg * zw * gamma);
        let sigma = (m.eta_t * fs * fs + m.eta_g * fs0 * fs0).sqrt();
        fill_normals(rng, &mut self.buf);
        let ws = self.w_scale;
        // xi . w^ (actual w^ = ws * w_stored / zw).
        let xi_hat = if zw > 0.0 { ws * dot(&self.buf, &self.x.w) / zw } else { 0.0 };
        let (reg_w, reg_v) = self.regularizer_terms();
        // w' = kw w + a (fs U c - fs0 V c0) + a sigma xi, with the w^ components folded in kw.
        let along = if zw > 0.0 {
            (fs * st * alpha - fs0 * sg * beta - sigma * xi_hat) / zw
        } else {
            0.0
        };
        let kw = (1.0 - a * reg_w + a * along) * ws;
        let cu: Vec<f64> = self.c.iter().map(|c| a * fs * c).collect();
        let cv: Vec<f64> = (0..d).map(|j| -a * fs0 * self.c0[j] * self.v_scale[j]).collect();
        let cxi = a * sigma;
        // V_j' = (1 - at reg_j) V_j + at fs1 c1_j w (old w).
        let bv: Vec<f64> = (0..d).map(|j| (1.0 - at * reg_v[j]) * self.v_scale[j]).collect();
        let bw: Vec<f64> = (0..d).map(|j| at * fs1 * self.c1[j] * ws).collect();
        let acc = fused_update(
            n, d, &self.x.u, &mut self.x.v, &mut self.x.w, &self.buf, kw, &cu, &cv, cxi, &bv, &bw,
        );
        if m.lambda.is_infinite() {
            self.w_scale = 1.0 / acc.zz.sqrt();
            for j in 0..d {
                self.v_scale[j] = 1.0 / acc.vv[j].sqrt();
                self.q[j] = acc.q[j] * self.w_scale;
                self.r[j] = acc.r[j] * self.w_scale * self.v_scale[j];
                self.s_diag[j] = 1.0;
            }
            self.z = 1.0;
            if !acc.zz.is_finite() || acc.vv.iter().any(|v| !v.is_finite()) {
                self.z = acc.zz;
                self.s_diag.copy_from_slice(&acc.vv);
            }
        } else {
            self.w_scale = 1.0;
            self.v_scale.fill(1.0);
            self.q.copy_from_slice(&acc.q);
            self.r.copy_from_slice(&acc.r);
            self.z = acc.zz;
            self.s_diag.copy_from_slice(&acc.vv);
        }
    }
}

/// Sums accumulated by [`fused_update`] over the new vectors.
struct Accumulated {
    zz: f64,
    q: Vec<f64>,
    r: Vec<f64>,
    vv: Vec<f64>,
}

/// One pass over the n-vectors: `w_i <- kw w_i + sum_j cu_j U_ij + sum_j cv_j V_ij + cxi xi_i`,
/// `V_ij <- bv_j V_ij + bw_j w_i` (old w), accumulating `|w|^2`, `U^T w`, `V^T w`, `|V_j|^2`
/// of the new (stored) vectors.
#[allow(clippy::too_many_arguments)]
fn fused_update(
    n: usize,
    d: usize,
    u: &[f64],
    v: &mut [f64],
    w: &mut [f64],
    xi: &[f64],
    kw: f64,
    cu: &[f64],
    cv: &[f64],
    cxi: f64,
    bv: &[f64],
    bw: &[f64],
) -> Accumulated {
    let mut acc = Accumulated {
        zz: 0.0,
        q: vec![0.0; d],
        r: vec![0.0; d],
        vv: vec![0.0; d],
    };
    if d == 2 {
        let (u0, u1) = u.split_at(n);
        let (v0, v1) = v.split_at_mut(n);
        let (mut zz, mut q0, mut q1, mut r0, mut r1, mut s0, mut s1) =
            (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        for i in 0..n {
            let wo = w[i];
            let (a0, a1) = (v0[i], v1[i]);
            let wn = kw * wo + cu[0] * u0[i] + cu[1] * u1[i] + cv[0] * a0 + cv[1] * a1 + cxi * xi[i];
            let n0 = bv[0] * a0 + bw[0] * wo;
            let n1 = bv[1] * a1 + bw[1] * wo;
            w[i] = wn;
            v0[i] = n0;
            v1[i] = n1;
            zz += wn * wn;
            q0 += u0[i] * wn;
            q1 += u1[i] * wn;
            r0 += n0 * wn;
            r1 += n1 * wn;
            s0 += n0 * n0;
            s1 += n1 * n1;
        }
        acc.zz = zz;
        acc.q = vec![q0, q1];
        acc.r = vec![r0, r1];
        acc.vv = vec![s0, s1];
        return acc;
    }
    let mut vnew = vec![0.0; d];
    for i in 0..n {
        let wo = w[i];
        let mut wn = kw * wo + cxi * xi[i];
        for j in 0..d {
            let vo = v[j * n + i];
            wn += cu[j] * u[j * n + i] + cv[j] * vo;
            vnew[j] = bv[j] * vo + bw[j] * wo;
        }
        w[i] = wn;
        acc.zz += wn * wn;
        for j in 0..d {
            v[j * n + i] = vnew[j];
            acc.q[j] += u[j * n + i] * wn;
            acc.r[j] += vnew[j] * wn;
            acc.vv[j] += vnew[j] * vnew[j];
        }
    }
    acc
}

impl Engine for Sgda {
    fn n(&self) -> usize {
        self.x.n
    }

    fn steps_done(&self) -> u64 {
        self.steps
    }

    fn step(&mut self, rng: &mut SimRng) -> Result<(), SimError> {
        match self.mode {
            StepMode::Literal => self.step_literal(rng),
            StepMode::Fast => self.step_fast(rng),
        }
        self.steps += 1;
        self.check()
    }

    fn macro_state(&self) -> MacroState {
        let mut s = self.x.macro_state();
        let (ws, vs) = (self.w_scale, &self.v_scale);
        let d = self.x.d;
        for i in 0..d {
            for j in 0..d {
                s.p[(i, j)] *= vs[j];
                s.s[(i, j)] *= vs[i] * vs[j];
            }
            s.q[i] *= ws;
            s.r[i] *= ws * vs[i];
        }
        s.z *= ws * ws;
        s
    }
}
