use crate::normal::{fill_normals, normal};
use crate::{Engine, MicroState, SimError, StepMode};
use hdgan_core::{Lambda, MacroState, ParamError};
use hdgan_model::random::SimRng;
use hdgan_model::{Model, Regularizer};

/// Online SGDA on the model of THEORY §1, eq. 5:
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
    /// The macroscopic state of the actual vectors (exact, or tracked by exact algebra
    /// between resyncs in the fast mode).
    gram: MacroState,
    steps: u64,
    /// The fast mode's vector update of the last step, not yet applied to the stored
    /// vectors: it is applied element by element inside the next step's pass over the
    /// n-vectors (one pass per step instead of two), or by [`Sgda::apply_pending`]. It
    /// refers to the normal vector in `buf`.
    pending: Option<Pending>,
    /// The fast step's normal generator, derived from the run's stream at the first fast
    /// step.
    lanes: Option<crate::pass::PassRng>,
    /// The fast pass's implementation (the fastest the CPU supports; all give the same
    /// bits).
    kernel: crate::pass::Kernel,
    /// The fast step's per-step coefficient vectors, kept to avoid allocating each step.
    scratch: Scratch,
    /// Storage for the next tracked macroscopic state (swapped with `gram` each step).
    gram_next: MacroState,

    buf: Vec<f64>,
    buf0: Vec<f64>,
    buf1: Vec<f64>,
    c: Vec<f64>,
    c0: Vec<f64>,
    c1: Vec<f64>,
    /// Reused storage for records taken while an update is deferred.
    record_buf: RecordBuf,
}

/// A buffer reused by [`Sgda`]'s records (behind a mutex because recording takes
/// `&self`); a clone starts empty.
#[derive(Debug, Default)]
struct RecordBuf(std::sync::Mutex<Vec<f64>>);

impl Clone for RecordBuf {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl Sgda {
    /// An SGDA engine for `model` starting from `x` (e.g. from [`crate::InitState::build`]).
    /// `blowup` bounds the squared norms `z`, `S_jj`; beyond it (or at NaN) a step fails
    /// with [`SimError::Diverged`].
    ///
    /// The fast step needs a w-update linear in w: with an elementwise L1 penalty
    /// (`model.l1 > 0`) it is refused with an error naming `sim.mode` (use
    /// [`StepMode::Literal`]); nothing is switched silently. Any loss works with both steps
    /// (they use `f` only through the scores).
    pub fn new(
        model: &Model,
        x: MicroState,
        mode: StepMode,
        blowup: f64,
    ) -> Result<Self, SimError> {
        if mode == StepMode::Fast && model.l1() > 0.0 {
            return Err(ParamError::rule(
                "sim.mode",
                "must be \"literal\" when model.l1 > 0 (the fast step needs a w-update linear in w)",
            )
            .into());
        }
        let (n, d) = (x.n, x.d);
        assert_eq!(
            (n, d),
            (model.n(), model.d()),
            "Sgda::new: state and model dimensions differ"
        );
        let mut e = Self {
            model: model.clone(),
            mode,
            blowup,
            w_scale: 1.0,
            v_scale: vec![1.0; d],
            gram: MacroState::zeros(d),
            steps: 0,
            pending: None,
            lanes: None,
            kernel: crate::pass::Kernel::best(),
            scratch: Scratch::default(),
            gram_next: MacroState::zeros(d),

            buf: vec![0.0; n],
            buf0: if mode == StepMode::Literal {
                vec![0.0; n]
            } else {
                Vec::new()
            },
            buf1: if mode == StepMode::Literal {
                vec![0.0; n]
            } else {
                Vec::new()
            },
            c: vec![0.0; d],
            c0: vec![0.0; d],
            c1: vec![0.0; d],
            record_buf: RecordBuf::default(),
            x,
        };
        e.gram = e.exact_macro_state();
        Ok(e)
    }

    /// The step implementation in use.
    pub fn mode(&self) -> StepMode {
        self.mode
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The macroscopic state as the engine tracks it: exact after construction, after every
    /// literal step and at every resync; between resyncs of the fast mode, updated by exact
    /// algebra from the overlaps of the step's normal vector (equal to
    /// [`Engine::macro_state`] up to rounding).
    pub fn tracked_macro_state(&self) -> &MacroState {
        &self.gram
    }

    /// The current microscopic state (a copy with the scales applied).
    pub fn micro_state(&self) -> MicroState {
        let mut x = self.x.clone();
        if let Some(p) = &self.pending {
            p.apply(&mut x, &self.buf);
        }
        self.apply_scales_to(&mut x);
        x
    }

    /// Applies a deferred vector update (see the `pending` field).
    fn apply_pending(&mut self) {
        if let Some(p) = self.pending.take() {
            p.apply(&mut self.x, &self.buf);
        }
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

    /// Applies any deferred update and the scales to the stored vectors (scales become 1).
    fn materialize(&mut self) {
        self.apply_pending();
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

    /// The macroscopic state computed from the vectors (stored, deferred update, scales),
    /// O(n d^2).
    fn exact_macro_state(&self) -> MacroState {
        let mut s = match &self.pending {
            None => self.x.macro_state(),
            Some(p) => {
                // U does not change: apply the deferred update to copies of V and w kept
                // in a reused buffer (O(n d) copy, no allocation after the first record).
                let x = &self.x;
                let mut buf = self.record_buf.0.lock().unwrap_or_else(|e| e.into_inner());
                let (nv, nw) = (x.v.len(), x.w.len());
                buf.resize(nv + nw, 0.0);
                let (v, w) = buf.split_at_mut(nv);
                v.copy_from_slice(&x.v);
                w.copy_from_slice(&x.w);
                update_vectors(
                    x.n, x.d, &x.u, v, w, &self.buf, p.kw, &p.cu, &p.cv, p.cxi, &p.bv, &p.bw,
                );
                crate::init::macro_state_of(x.n, x.d, &x.u, v, w)
            }
        };
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

    /// [`Sgda::regularizer_terms`] without allocating: writes `lambda H'(S_jj)` into
    /// `reg_v` and returns `lambda H'(z)`.
    fn regularizer_terms_into(&self, reg_v: &mut [f64]) -> f64 {
        match self.model.lambda() {
            Lambda::Finite(l) => {
                let h = self.model.regularizer();
                for (j, r) in reg_v.iter_mut().enumerate() {
                    *r = l * h.h_prime(self.gram.s[(j, j)]);
                }
                l * h.h_prime(self.gram.z)
            }
            Lambda::Infinite => {
                reg_v.fill(0.0);
                0.0
            }
        }
    }

    /// Regulariser terms `lambda H'(z)` and `lambda H'(S_jj)` (zero when projected).
    fn regularizer_terms(&self) -> (f64, Vec<f64>) {
        match self.model.lambda() {
            Lambda::Finite(l) => {
                let h = self.model.regularizer();
                (
                    l * h.h_prime(self.gram.z),
                    (0..self.x.d)
                        .map(|j| l * h.h_prime(self.gram.s[(j, j)]))
                        .collect(),
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
        let g = &self.gram;
        if !(g.z.is_finite() && g.z <= self.blowup) {
            return Err(err("z = |w|^2".into(), g.z));
        }
        for j in 0..self.x.d {
            let s = g.s[(j, j)];
            if !(s.is_finite() && s <= self.blowup) {
                return Err(err(format!("S{0}{0} = |V_{0}|^2", j + 1), s));
            }
        }
        for (j, (&q, &r)) in g.q.iter().zip(&g.r).enumerate() {
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
        let (a, at) = (m.tau() / n as f64, m.tau_tilde() / n as f64);
        let (st, sg) = (m.eta_t().sqrt(), m.eta_g().sqrt());
        m.latent().sample(rng, &mut self.c);
        m.latent_tilde().sample(rng, &mut self.c0);
        m.latent_tilde().sample(rng, &mut self.c1);
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
        let fs = m.loss().f(dot(&self.buf, &self.x.w));
        let fs0 = m.loss().f_tilde(dot(&self.buf0, &self.x.w));
        let fs1 = m.loss().f_tilde(dot(&self.buf1, &self.x.w));
        let (reg_w, reg_v) = self.regularizer_terms();
        // V update uses the old w: do it first.
        for j in 0..d {
            let (kv, kw) = (1.0 - at * reg_v[j], at * fs1 * self.c1[j]);
            for (v, w) in self.x.v[j * n..(j + 1) * n].iter_mut().zip(&self.x.w) {
                *v = kv * *v + kw * w;
            }
        }
        let kw = 1.0 - a * reg_w;
        // Elementwise L1 penalty: -(l1 / sqrt(n)) sign(w_i) inside the bracket.
        let l1 = a * m.l1() / (n as f64).sqrt();
        for ((w, y), y0) in self.x.w.iter_mut().zip(&self.buf).zip(&self.buf0) {
            *w = kw * *w + a * (fs * y - fs0 * y0) - l1 * w.signum();
        }
        if m.lambda().is_infinite() {
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
        self.gram = self.exact_macro_state();
    }

    /// The exact-in-law fast step (see the type's documentation).
    fn step_fast(&mut self, rng: &mut SimRng) {
        let (n, d) = (self.x.n, self.x.d);
        let m = &self.model;
        let (a, at) = (m.tau() / n as f64, m.tau_tilde() / n as f64);
        let (st, sg) = (m.eta_t().sqrt(), m.eta_g().sqrt());
        m.latent().sample(rng, &mut self.c);
        m.latent_tilde().sample(rng, &mut self.c0);
        m.latent_tilde().sample(rng, &mut self.c1);
        let (alpha, beta, gamma) = (normal(rng), normal(rng), normal(rng));
        let g = &self.gram;
        let zw = g.z.sqrt();
        let fs = m.loss().f(dot(&self.c, &g.q) + st * zw * alpha);
        let fs0 = m.loss().f_tilde(dot(&self.c0, &g.r) + sg * zw * beta);
        let fs1 = m.loss().f_tilde(dot(&self.c1, &g.r) + sg * zw * gamma);
        let sigma = (m.eta_t() * fs * fs + m.eta_g() * fs0 * fs0).sqrt();
        let mut sc = std::mem::take(&mut self.scratch);
        sc.resize(d);
        let reg_w = self.regularizer_terms_into(&mut sc.reg_v);
        // The one pass over the n-vectors: apply the last step's update, draw xi, and
        // accumulate xi's overlaps with the updated stored U, V, w.
        let pending = self.pending.take();
        let lanes = self
            .lanes
            .get_or_insert_with(|| crate::pass::PassRng::new(rng, n));
        let xd = xi_overlaps(
            self.kernel,
            lanes,
            &mut self.buf,
            &mut self.x,
            pending.as_ref(),
        );
        let ws = self.w_scale;
        let xw = ws * xd.w; // xi . w (actual)
        for j in 0..d {
            sc.xv[j] = self.v_scale[j] * xd.v[j];
        }
        // Coefficients of the new vectors in the actual old ones:
        // w' = kw w + U cu + V cv + cxi xi,  V'_j = bv_j V_j + bw_j w.
        let along = if zw > 0.0 {
            (fs * st * alpha - fs0 * sg * beta - sigma * xw / zw) / zw
        } else {
            0.0
        };
        let kw = 1.0 - a * reg_w + a * along;
        let cxi = a * sigma;
        for j in 0..d {
            sc.cu[j] = a * fs * self.c[j];
            sc.cv[j] = -a * fs0 * self.c0[j];
            sc.bv[j] = 1.0 - at * sc.reg_v[j];
            sc.bw[j] = at * fs1 * self.c1[j];
        }
        let mut next = std::mem::replace(&mut self.gram_next, MacroState::zeros(0));
        if next.d() != d {
            next = MacroState::zeros(d);
        }
        gram_update(
            g, &xd.u, &sc.xv, xw, xd.xx, kw, &sc.cu, &sc.cv, cxi, &sc.bv, &sc.bw, &mut next,
        );
        // The n-vector update, in stored coordinates, deferred to the next pass (reusing
        // the old update's storage).
        let mut p = pending.unwrap_or_else(|| Pending {
            kw: 0.0,
            cu: vec![0.0; d],
            cv: vec![0.0; d],
            cxi: 0.0,
            bv: vec![0.0; d],
            bw: vec![0.0; d],
        });
        p.kw = kw * ws;
        p.cxi = cxi;
        for j in 0..d {
            p.cu[j] = sc.cu[j];
            p.cv[j] = sc.cv[j] * self.v_scale[j];
            p.bv[j] = sc.bv[j] * self.v_scale[j];
            p.bw[j] = sc.bw[j] * ws;
        }
        self.pending = Some(p);
        // Once applied, the stored vectors equal the actual new ones (scales 1); project
        // if lambda = inf.
        self.w_scale = 1.0;
        self.v_scale.fill(1.0);
        if m.lambda().is_infinite() && next.is_finite() {
            let rho_w = 1.0 / next.z.sqrt();
            for j in 0..d {
                sc.rho_v[j] = 1.0 / next.s[(j, j)].sqrt();
            }
            scale_gram(&mut next, rho_w, &sc.rho_v);
            self.w_scale = rho_w;
            self.v_scale.copy_from_slice(&sc.rho_v);
        }
        self.gram_next = std::mem::replace(&mut self.gram, next);
        self.scratch = sc;
        if (self.steps + 1).is_multiple_of(RESYNC_EVERY) {
            let projected = self.model.lambda().is_infinite();
            self.apply_pending();
            self.gram = self.exact_macro_state();
            if projected {
                self.gram.z = 1.0;
                for j in 0..d {
                    self.gram.s[(j, j)] = 1.0;
                }
            }
        }
    }
}

/// The fast step tracks the macroscopic state by exact algebra (O(d^2) per step) and
/// recomputes it from the n-vectors every this many steps, so that rounding errors of the
/// algebra cannot accumulate.
const RESYNC_EVERY: u64 = 256;

/// A deferred vector update in stored coordinates:
/// `w <- kw w + U cu + V cv + cxi xi` and `V_j <- bv_j V_j + bw_j w` (old w).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Pending {
    kw: f64,
    cu: Vec<f64>,
    cv: Vec<f64>,
    cxi: f64,
    bv: Vec<f64>,
    bw: Vec<f64>,
}

impl Pending {
    fn apply(&self, x: &mut MicroState, xi: &[f64]) {
        update_vectors(
            x.n, x.d, &x.u, &mut x.v, &mut x.w, xi, self.kw, &self.cu, &self.cv, self.cxi,
            &self.bv, &self.bw,
        );
    }
}

/// Overlaps of a fresh normal vector xi with the stored vectors.
struct XiOverlaps {
    u: Vec<f64>,
    v: Vec<f64>,
    w: f64,
    xx: f64,
}

/// The fast step's per-step coefficient vectors (length d).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct Scratch {
    reg_v: Vec<f64>,
    xv: Vec<f64>,
    cu: Vec<f64>,
    cv: Vec<f64>,
    bv: Vec<f64>,
    bw: Vec<f64>,
    rho_v: Vec<f64>,
}

impl Scratch {
    fn resize(&mut self, d: usize) {
        for v in [
            &mut self.reg_v,
            &mut self.xv,
            &mut self.cu,
            &mut self.cv,
            &mut self.bv,
            &mut self.bw,
            &mut self.rho_v,
        ] {
            v.resize(d, 0.0);
        }
    }
}

/// Applies `pending` (if any) to the stored vectors, draws a new `xi ~ N(0, I_n)` from
/// `lanes` into `buf` (whose old content is the pending update's normal vector), and
/// returns `U^T xi`, `V_stored^T xi`, `w_stored . xi` and `|xi|^2` of the updated vectors:
/// one fused pass (see [`crate::pass`]).
fn xi_overlaps(
    kernel: crate::pass::Kernel,
    lanes: &mut crate::pass::PassRng,
    buf: &mut [f64],
    x: &mut MicroState,
    pending: Option<&Pending>,
) -> XiOverlaps {
    let (n, d) = (x.n, x.d);
    let coef = pending.map(|p| crate::pass::Coef {
        cu: &p.cu,
        cv: &p.cv,
        bv: &p.bv,
        bw: &p.bw,
        kw: p.kw,
        cxi: p.cxi,
    });
    let (uall, vall, w) = (&x.u, &mut x.v, &mut x.w[..n]);
    let o = crate::pass::run_fused(kernel, d, n, uall, vall, w, buf, lanes, coef.as_ref());
    XiOverlaps {
        u: o.u,
        v: o.v,
        w: o.w,
        xx: o.xx,
    }
}

/// The macroscopic state after one fast step, from the old one and the overlaps of xi,
/// by bilinearity: with `w' = kw w + U cu + V cv + cxi xi` and `V'_j = bv_j V_j + bw_j w`,
/// every entry of `M' = X'^T X'` is a combination of entries of the Gram matrix of
/// `[U, V, w, xi]` (`U^T U = I`).
#[allow(clippy::too_many_arguments)]
fn gram_update(
    g: &MacroState,
    xu: &[f64],
    xv: &[f64],
    xw: f64,
    xx: f64,
    kw: f64,
    cu: &[f64],
    cv: &[f64],
    cxi: f64,
    bv: &[f64],
    bw: &[f64],
    out: &mut MacroState,
) {
    let d = g.d();
    // Overlaps of w' with the old U, V, w and xi: U^T w' (stored in out.q) and V^T w'
    // (stored in out.r, then turned into V'^T w').
    for i in 0..d {
        let p_cv: f64 = (0..d).map(|k| g.p[(i, k)] * cv[k]).sum();
        out.q[i] = kw * g.q[i] + cu[i] + p_cv + cxi * xu[i];
    }
    for j in 0..d {
        let pt_cu: f64 = (0..d).map(|k| cu[k] * g.p[(k, j)]).sum();
        let s_cv: f64 = (0..d).map(|k| g.s[(j, k)] * cv[k]).sum();
        out.r[j] = kw * g.r[j] + pt_cu + s_cv + cxi * xv[j];
    }
    let w_w1 = kw * g.z + dot(cu, &g.q) + dot(cv, &g.r) + cxi * xw;
    let xi_w1 = kw * xw + dot(cu, xu) + dot(cv, xv) + cxi * xx;
    out.z = kw * w_w1 + dot(cu, &out.q) + dot(cv, &out.r) + cxi * xi_w1;
    for i in 0..d {
        out.r[i] = bv[i] * out.r[i] + bw[i] * w_w1;
        for j in 0..d {
            out.p[(i, j)] = bv[j] * g.p[(i, j)] + bw[j] * g.q[i];
            out.s[(i, j)] = bv[i] * bv[j] * g.s[(i, j)]
                + bv[i] * bw[j] * g.r[i]
                + bw[i] * bv[j] * g.r[j]
                + bw[i] * bw[j] * g.z;
        }
    }
}

/// Rescales the Gram entries for `w -> rho_w w`, `V_j -> rho_v[j] V_j`.
fn scale_gram(g: &mut MacroState, rho_w: f64, rho_v: &[f64]) {
    let d = g.d();
    for i in 0..d {
        g.q[i] *= rho_w;
        g.r[i] *= rho_w * rho_v[i];
        for j in 0..d {
            g.p[(i, j)] *= rho_v[j];
            g.s[(i, j)] *= rho_v[i] * rho_v[j];
        }
    }
    g.z *= rho_w * rho_w;
}

/// Applies `w_i <- kw w_i + sum_j cu_j U_ij + sum_j cv_j V_ij + cxi xi_i` and
/// `V_ij <- bv_j V_ij + bw_j w_i` (old w) to every row. The hot path does this inside
/// [`crate::pass`]; this plain loop serves the rare flushes (records, resyncs).
#[allow(clippy::too_many_arguments)]
fn update_vectors(
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
) {
    for i in 0..n {
        let wo = w[i];
        let mut wn = kw * wo + cxi * xi[i];
        for j in 0..d {
            let vo = v[j * n + i];
            wn += cu[j] * u[j * n + i] + cv[j] * vo;
            v[j * n + i] = bv[j] * vo + bw[j] * wo;
        }
        w[i] = wn;
    }
}

/// `a . b` with four partial sums, so that the loop is not bound by the latency of one
/// chain of additions; the order is fixed, so results do not depend on the machine.
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

impl Engine for Sgda {
    type State = MacroState;

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
        self.exact_macro_state()
    }
}

/// Everything an [`Sgda`] step reads besides the model: its checkpoint.
#[derive(serde::Serialize, serde::Deserialize)]
struct SgdaSnapshot {
    mode: StepMode,
    x: MicroState,
    w_scale: f64,
    v_scale: Vec<f64>,
    gram: MacroState,
    steps: u64,
    pending: Option<Pending>,
    lanes: Option<crate::pass::PassRng>,
    scratch: Scratch,
    gram_next: MacroState,
    buf: Vec<f64>,
    buf0: Vec<f64>,
    buf1: Vec<f64>,
    c: Vec<f64>,
    c0: Vec<f64>,
    c1: Vec<f64>,
}

impl crate::Checkpoint for Sgda {
    fn save_state(&self) -> Vec<u8> {
        let snap = SgdaSnapshot {
            mode: self.mode,
            x: self.x.clone(),
            w_scale: self.w_scale,
            v_scale: self.v_scale.clone(),
            gram: self.gram.clone(),
            steps: self.steps,
            pending: self.pending.clone(),
            lanes: self.lanes.clone(),
            scratch: self.scratch.clone(),
            gram_next: self.gram_next.clone(),
            buf: self.buf.clone(),
            buf0: self.buf0.clone(),
            buf1: self.buf1.clone(),
            c: self.c.clone(),
            c0: self.c0.clone(),
            c1: self.c1.clone(),
        };
        crate::checkpoint::encode(&snap)
    }

    fn restore_state(&mut self, bytes: &[u8]) -> Result<(), SimError> {
        let s: SgdaSnapshot = crate::checkpoint::decode(bytes)?;
        let (n, d) = (self.model.n(), self.model.d());
        let ok = s.mode == self.mode
            && s.x.n == n
            && s.x.d == d
            && s.x.u.len() == n * d
            && s.x.v.len() == n * d
            && s.x.w.len() == n
            && s.v_scale.len() == d
            && s.buf.len() == self.buf.len()
            && s.buf0.len() == self.buf0.len()
            && s.buf1.len() == self.buf1.len()
            && s.c.len() == d
            && s.c0.len() == d
            && s.c1.len() == d
            && s.lanes
                .as_ref()
                .is_none_or(|l| l.chunks() == crate::pass::PassRng::chunks_for(n));
        if !ok {
            return Err(SimError::BadCheckpoint {
                reason: "the saved full-engine state has other dimensions or another step mode than the config".into(),
            });
        }
        self.x = s.x;
        self.w_scale = s.w_scale;
        self.v_scale = s.v_scale;
        self.gram = s.gram;
        self.steps = s.steps;
        self.pending = s.pending;
        self.lanes = s.lanes;
        self.scratch = s.scratch;
        self.gram_next = s.gram_next;
        self.buf = s.buf;
        self.buf0 = s.buf0;
        self.buf1 = s.buf1;
        self.c = s.c;
        self.c0 = s.c0;
        self.c1 = s.c1;
        Ok(())
    }
}
