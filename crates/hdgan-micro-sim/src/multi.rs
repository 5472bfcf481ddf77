//! Online SGDA with a p-feature discriminator `W` (n x p) and quadratic energy
//! `F = ||W^T y||^2 / 2` (THEORY §8).

use crate::error::SimError;
use crate::init::InitState;
use crate::normal::fill_normals;
use crate::run::Engine;
use crate::sgda::dot;
use hdgan_core::{DMat, Lambda, MultiState};
use hdgan_model::random::SimRng;
use hdgan_model::{Model, Regularizer};

/// The literal multi-feature step. Per step k it draws a real sample `y = U c + sqrt(eta_T) a`
/// and two fake samples `y~ = V c~ + sqrt(eta_G) a~`, `y~' = V c~' + sqrt(eta_G) a~'` as
/// full n-vectors and applies, with the old `W` on both right-hand sides,
///
/// ```text
/// W <- W + (tau/n)  [ y (y^T W) - y~ (y~^T W) - lambda W diag H'(diag Z) ]
/// V <- V + (tau~/n) [ W (W^T y~') c~'^T       - lambda V diag H'(diag S) ]
/// ```
///
/// (for p = 1 exactly eq. 5 with the quadratic loss). With `lambda = inf` every column of
/// `W` and of `V` is rescaled to unit norm after the step. Cost O(n (d + p) p) per step;
/// nothing n x n is formed. The macroscopic state (`P, Q, R, S, Z`) is computed from the
/// vectors when asked for, in O(n (2d + p)^2).
#[derive(Debug)]
pub struct MultiSgda {
    model: Model,
    n: usize,
    d: usize,
    p: usize,
    /// `U`, column-major n x d.
    u: Vec<f64>,
    /// `V`, column-major n x d.
    v: Vec<f64>,
    /// `W`, column-major n x p.
    w: Vec<f64>,
    steps: u64,
    blowup: f64,
    y: Vec<f64>,
    y0: Vec<f64>,
    y1: Vec<f64>,
    c: Vec<f64>,
    c0: Vec<f64>,
    c1: Vec<f64>,
    /// Squared column norms of V and W after the last step (the regulariser's arguments).
    s_diag: Vec<f64>,
    z_diag: Vec<f64>,
    /// Scratch for the step's scores `[W^T y | W^T y~ | W^T y~']`.
    scores: Vec<f64>,
    /// Real samples in place of `U c + sqrt(eta_T) a` (then `U` is only the reference
    /// subspace the overlaps are measured against).
    data: Option<Box<dyn RealSamples>>,
    /// `model.constraint = "orthonormal"` (lambda = inf, validated by the model): `W` and
    /// `V` are orthonormalised at the start and kept orthonormal by Gram-Schmidt in column
    /// order after every step instead of normalising each column on its own.
    orthonormal: bool,
}

/// Modified Gram-Schmidt on the columns of `a` (column-major, columns of length n), in
/// column order: the Q factor of the QR decomposition with positive diagonal. Writes the
/// squared norms (1, or 0 for a dependent column) into `norms`.
fn gram_schmidt(a: &mut [f64], n: usize, norms: &mut [f64]) {
    let cols = a.len() / n;
    for k in 0..cols {
        let (done, rest) = a.split_at_mut(k * n);
        let col = &mut rest[..n];
        for prev in done.chunks_exact(n) {
            let c = dot(prev, col);
            for (x, pv) in col.iter_mut().zip(prev) {
                *x -= c * pv;
            }
        }
        let nn = dot(col, col);
        if nn > 0.0 && nn.is_finite() {
            let inv = 1.0 / nn.sqrt();
            for x in col.iter_mut() {
                *x *= inv;
            }
        }
        norms[k] = dot(col, col);
    }
}

/// A source of real samples `y` (one n-vector per step) for training on data instead of
/// the model's `U c + sqrt(eta_T) a`: an image stream, say. Implementations draw any
/// randomness they need (shuffling) from the engine's stream, so runs stay reproducible.
pub trait RealSamples: Send + std::fmt::Debug {
    /// Writes the next sample into `y` (length n).
    fn next_into(&mut self, rng: &mut SimRng, y: &mut [f64]);
}

impl MultiSgda {
    /// The engine for `model` from the initial state `init` (its `q0_cols`, or `q0` for
    /// p = 1), drawn from `rng`. `blowup` bounds every squared column norm: a run whose
    /// `S_jj` or `Z_kk` exceeds it (or turns non-finite) stops with
    /// [`SimError::Diverged`]. The engine's step is the quadratic energy's: another
    /// `model.loss` is refused.
    pub fn new(
        model: &Model,
        init: &InitState,
        blowup: f64,
        rng: &mut SimRng,
    ) -> Result<Self, SimError> {
        model.require_quadratic("the multi-feature engine")?;
        let n = model.n();
        let (x, w) = init.build_multi(n, rng);
        Ok(Self::from_vectors(model, x.u, x.v, w, blowup, None))
    }

    /// The engine trained on real samples from `data`, from given vectors: `u_ref` (the
    /// reference subspace, column-major n x d, orthonormal), `v0` (n x d) and `w0` (n x p).
    /// The model supplies n, d, p, the rates, lambda, `eta_G` and the generator's latent;
    /// its real latent and `eta_T` are not used. Panics if the lengths are not `n d`,
    /// `n d`, a multiple of n (programming errors: callers build these vectors).
    pub fn with_real_data(
        model: &Model,
        u_ref: Vec<f64>,
        v0: Vec<f64>,
        w0: Vec<f64>,
        data: Box<dyn RealSamples>,
        blowup: f64,
    ) -> Result<Self, SimError> {
        model.require_quadratic("the multi-feature engine")?;
        let (n, d) = (model.n(), model.d());
        assert!(
            u_ref.len() == n * d
                && v0.len() == n * d
                && w0.len().is_multiple_of(n)
                && !w0.is_empty(),
            "MultiSgda::with_real_data: vectors must be n x d, n x d, n x p"
        );
        Ok(Self::from_vectors(model, u_ref, v0, w0, blowup, Some(data)))
    }

    fn from_vectors(
        model: &Model,
        u: Vec<f64>,
        v: Vec<f64>,
        w: Vec<f64>,
        blowup: f64,
        data: Option<Box<dyn RealSamples>>,
    ) -> Self {
        let n = model.n();
        let (d, p) = (v.len() / n, w.len() / n);
        let norms = |a: &[f64]| -> Vec<f64> { a.chunks_exact(n).map(|c| dot(c, c)).collect() };
        let mut engine = Self {
            model: model.clone(),
            n,
            d,
            p,
            s_diag: norms(&v),
            z_diag: norms(&w),
            u,
            v,
            w,
            steps: 0,
            blowup,
            data,
            scores: Vec::new(),
            orthonormal: model.constraint() == hdgan_model::Constraint::Orthonormal,

            y: vec![0.0; n],
            y0: vec![0.0; n],
            y1: vec![0.0; n],
            c: vec![0.0; d],
            c0: vec![0.0; d],
            c1: vec![0.0; d],
        };
        if engine.orthonormal {
            gram_schmidt(&mut engine.v, n, &mut engine.s_diag);
            gram_schmidt(&mut engine.w, n, &mut engine.z_diag);
        }
        engine
    }

    /// Number of discriminator features p.
    pub fn p_features(&self) -> usize {
        self.p
    }

    /// `W` (column-major n x p).
    pub fn w(&self) -> &[f64] {
        &self.w
    }

    /// `V` (column-major n x d).
    pub fn v(&self) -> &[f64] {
        &self.v
    }

    /// `U` (column-major n x d).
    pub fn u(&self) -> &[f64] {
        &self.u
    }

    fn check(&self) -> Result<(), SimError> {
        let t = self.steps as f64 / self.n as f64;
        let bad = |x: f64| !x.is_finite() || x > self.blowup;
        let named = self
            .s_diag
            .iter()
            .enumerate()
            .map(|(j, &x)| (format!("S_{0}{0} = |V_{0}|^2", j + 1), x))
            .chain(
                self.z_diag
                    .iter()
                    .enumerate()
                    .map(|(k, &x)| (format!("Z_{0}{0} = |W_{0}|^2", k + 1), x)),
            );
        for (quantity, value) in named {
            if bad(value) {
                return Err(SimError::Diverged {
                    t,
                    step: self.steps,
                    quantity,
                    value,
                });
            }
        }
        Ok(())
    }
}

/// `out = mean + sqrt(var) * N(0, I_n)` with `mean = B coef` (`B` column-major n x len).
fn sample_into(rng: &mut SimRng, out: &mut [f64], sd: f64, basis: &[f64], coef: &[f64]) {
    let n = out.len();
    fill_normals(rng, out);
    for x in out.iter_mut() {
        *x *= sd;
    }
    for (col, &cj) in basis.chunks_exact(n).zip(coef) {
        for (o, b) in out.iter_mut().zip(col) {
            *o += cj * b;
        }
    }
}

impl Engine for MultiSgda {
    type State = MultiState;

    fn n(&self) -> usize {
        self.n
    }

    fn steps_done(&self) -> u64 {
        self.steps
    }

    fn step(&mut self, rng: &mut SimRng) -> Result<(), SimError> {
        let (n, p) = (self.n, self.p);
        let m = &self.model;
        let (a, at) = (m.tau() / n as f64, m.tau_tilde() / n as f64);
        if let Some(data) = self.data.as_mut() {
            data.next_into(rng, &mut self.y);
        } else {
            m.latent().sample(rng, &mut self.c);
        }
        m.latent_tilde().sample(rng, &mut self.c0);
        m.latent_tilde().sample(rng, &mut self.c1);
        if self.data.is_none() {
            sample_into(rng, &mut self.y, m.eta_t().sqrt(), &self.u, &self.c);
        }
        sample_into(rng, &mut self.y0, m.eta_g().sqrt(), &self.v, &self.c0);
        sample_into(rng, &mut self.y1, m.eta_g().sqrt(), &self.v, &self.c1);
        // Scores W^T y, W^T y~, W^T y~' (stored as [s | s0 | s1], reused every step).
        self.scores.resize(3 * p, 0.0);
        for (k, wk) in self.w.chunks_exact(n).enumerate() {
            self.scores[k] = dot(wk, &self.y);
            self.scores[p + k] = dot(wk, &self.y0);
            self.scores[2 * p + k] = dot(wk, &self.y1);
        }
        let (s, s0, s1) = (
            &self.scores[..p],
            &self.scores[p..2 * p],
            &self.scores[2 * p..],
        );
        // Regulariser lambda H'(norm^2) of a column (0 when projected).
        let reg = |norm_sq: f64| match m.lambda() {
            Lambda::Finite(l) => l * m.regularizer().h_prime(norm_sq),
            Lambda::Infinite => 0.0,
        };
        // V update first (it uses the old W): V_j <- (1 - at reg_j) V_j + at c~'_j W s1.
        for (j, vj) in self.v.chunks_exact_mut(n).enumerate() {
            let kv = 1.0 - at * reg(self.s_diag[j]);
            for x in vj.iter_mut() {
                *x *= kv;
            }
            for (wk, &sk) in self.w.chunks_exact(n).zip(s1) {
                let coef = at * self.c1[j] * sk;
                for (x, wi) in vj.iter_mut().zip(wk) {
                    *x += coef * wi;
                }
            }
        }
        // W_k <- (1 - a reg_k) W_k + a (s_k y - s0_k y~).
        for (k, wk) in self.w.chunks_exact_mut(n).enumerate() {
            let (kw, ky, ky0) = (1.0 - a * reg(self.z_diag[k]), a * s[k], a * s0[k]);
            for ((x, yi), y0i) in wk.iter_mut().zip(&self.y).zip(&self.y0) {
                *x = kw * *x + ky * yi - ky0 * y0i;
            }
        }
        let projected = m.lambda().is_infinite();
        if self.orthonormal {
            gram_schmidt(&mut self.v, n, &mut self.s_diag);
            gram_schmidt(&mut self.w, n, &mut self.z_diag);
            self.steps += 1;
            return self.check();
        }
        for (cols, norms) in [
            (&mut self.v, &mut self.s_diag),
            (&mut self.w, &mut self.z_diag),
        ] {
            for (col, nrm) in cols.chunks_exact_mut(n).zip(norms.iter_mut()) {
                let nn = dot(col, col);
                if projected && nn > 0.0 && nn.is_finite() {
                    let inv = 1.0 / nn.sqrt();
                    for x in col.iter_mut() {
                        *x *= inv;
                    }
                    *nrm = dot(col, col);
                } else {
                    *nrm = nn;
                }
            }
        }
        self.steps += 1;
        self.check()
    }

    fn macro_state(&self) -> MultiState {
        let (n, d, p) = (self.n, self.d, self.p);
        let gram = |a: &[f64], b: &[f64], ra: usize, cb: usize| -> DMat {
            let mut out = DMat::zeros(ra, cb);
            for (i, ai) in a.chunks_exact(n).enumerate() {
                for (j, bj) in b.chunks_exact(n).enumerate() {
                    out[(i, j)] = dot(ai, bj);
                }
            }
            out
        };
        MultiState {
            p: gram(&self.u, &self.v, d, d),
            q: gram(&self.u, &self.w, d, p),
            r: gram(&self.v, &self.w, d, p),
            s: gram(&self.v, &self.v, d, d),
            z: gram(&self.w, &self.w, p, p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InitConfig, Sgda, StepMode};
    use hdgan_model::random::stream_rng;
    use hdgan_model::{LambdaValue, ModelConfig};

    fn model(p: usize, lambda: LambdaValue) -> Model {
        let mut cfg = ModelConfig::figure1(40, 1.5);
        cfg.eta_g = 0.5;
        cfg.p = p;
        cfg.lambda = lambda;
        cfg.validate("model").unwrap()
    }

    /// The orthonormal model starts with and keeps V^T V = I and W^T W = I (to round-off)
    /// through the steps; a finite lambda is refused.
    #[test]
    fn orthonormal_model_stays_on_the_stiefel_manifold() {
        let mut cfg = ModelConfig::figure1(40, 1.5);
        cfg.eta_g = 0.5;
        cfg.p = 2;
        cfg.constraint = hdgan_model::Constraint::Orthonormal;
        let m = cfg.validate("model").unwrap();
        let mut ic = InitConfig::diagonal(2, 0.3, 0.2);
        ic.q0 = vec![0.3, 0.1];
        ic.q0_cols = Some(vec![vec![0.3, 0.1], vec![0.1, 0.4]]);
        let init = ic.validate("init", &m).unwrap();
        let mut rng = stream_rng(3, 0);
        let mut e = MultiSgda::new(&m, &init, 1e6, &mut rng).unwrap();
        let s0 = e.macro_state();
        assert!(s0.z.max_abs_diff(&DMat::identity(2)) < 1e-12, "{:?}", s0.z);
        for _ in 0..200 {
            e.step(&mut rng).unwrap();
        }
        let s = e.macro_state();
        assert!(s.s.max_abs_diff(&DMat::identity(2)) < 1e-12, "{:?}", s.s);
        assert!(s.z.max_abs_diff(&DMat::identity(2)) < 1e-12, "{:?}", s.z);
        // A finite lambda is refused by the model, naming the key.
        cfg.lambda = LambdaValue::Number(2.0);
        let err = cfg.validate("model").expect_err("finite lambda refused");
        assert!(err.to_string().contains("model.constraint"), "{err}");
    }

    /// The initial state hits the prescribed overlaps, p = 2.
    #[test]
    fn initial_state_has_the_prescribed_overlaps() {
        let m = model(2, LambdaValue::default());
        let mut ic = InitConfig::diagonal(2, 0.3, 0.2);
        ic.q0_cols = Some(vec![vec![0.2, -0.1], vec![0.2, 0.4]]);
        let init = ic.validate("init", &m).unwrap();
        let e = MultiSgda::new(&m, &init, 1e6, &mut stream_rng(1, 0)).unwrap();
        let got = e.macro_state();
        let want = init.multi_state();
        assert!(got.gram().max_abs_diff(&want.gram()) < 1e-12);
    }

    /// For p = 1 one multi-feature step is the literal single-feature step with the
    /// quadratic loss, draw for draw (same stream, same order of draws), finite and
    /// infinite lambda.
    #[test]
    fn p1_equals_the_literal_single_feature_step() {
        for lambda in [LambdaValue::Number(3.0), LambdaValue::default()] {
            let m = model(1, lambda);
            let init = InitConfig::diagonal(2, 0.3, 0.2)
                .validate("init", &m)
                .unwrap();
            let mut multi = MultiSgda::new(&m, &init, 1e6, &mut stream_rng(5, 0)).unwrap();
            let mut single = Sgda::new(
                &m,
                init.build(m.n(), &mut stream_rng(5, 0)),
                StepMode::Literal,
                1e6,
            )
            .unwrap();
            let (mut r1, mut r2) = (stream_rng(6, 0), stream_rng(6, 0));
            for _ in 0..50 {
                multi.step(&mut r1).unwrap();
                single.step(&mut r2).unwrap();
            }
            let a = multi.macro_state().to_single().unwrap();
            let b = single.macro_state();
            assert!(a.gram_distance(&b) < 1e-10, "{}", a.gram_distance(&b));
        }
    }

    #[test]
    fn divergence_names_the_quantity() {
        let m = model(2, LambdaValue::Number(0.0));
        let mut ic = InitConfig::diagonal(2, 0.3, 0.2);
        ic.q0_cols = Some(vec![vec![0.2, 0.0], vec![0.2, 0.0]]);
        let init = ic.validate("init", &m).unwrap();
        let mut e = MultiSgda::new(&m, &init, 1.0001, &mut stream_rng(1, 0)).unwrap();
        let mut rng = stream_rng(2, 0);
        let err = (0..10_000).find_map(|_| e.step(&mut rng).err()).unwrap();
        assert!(matches!(err, SimError::Diverged { ref quantity, .. } if quantity.contains('|')));
    }
}

/// What a [`MultiSgda`] step reads besides the model: its checkpoint (engines on the
/// model's samples only; a real-data stream is not saved).
#[derive(serde::Serialize, serde::Deserialize)]
struct MultiSnapshot {
    dims: (usize, usize, usize),
    u: Vec<f64>,
    v: Vec<f64>,
    w: Vec<f64>,
    steps: u64,
    buffers: [Vec<f64>; 9],
}

impl crate::Checkpoint for MultiSgda {
    fn save_state(&self) -> Vec<u8> {
        crate::checkpoint::encode(&MultiSnapshot {
            dims: (self.n, self.d, self.p),
            u: self.u.clone(),
            v: self.v.clone(),
            w: self.w.clone(),
            steps: self.steps,
            buffers: [
                self.y.clone(),
                self.y0.clone(),
                self.y1.clone(),
                self.c.clone(),
                self.c0.clone(),
                self.c1.clone(),
                self.s_diag.clone(),
                self.z_diag.clone(),
                self.scores.clone(),
            ],
        })
    }

    fn restore_state(&mut self, bytes: &[u8]) -> Result<(), SimError> {
        if self.data.is_some() {
            return Err(SimError::BadCheckpoint {
                reason: "an engine trained on a real-data stream cannot be restored".into(),
            });
        }
        let s: MultiSnapshot = crate::checkpoint::decode(bytes)?;
        let [y, y0, y1, c, c0, c1, s_diag, z_diag, scores] = s.buffers;
        let ok = s.dims == (self.n, self.d, self.p)
            && s.u.len() == self.u.len()
            && s.v.len() == self.v.len()
            && s.w.len() == self.w.len()
            && [&y, &y0, &y1]
                .iter()
                .all(|b| b.is_empty() || b.len() == self.n)
            && [&c, &c0, &c1]
                .iter()
                .all(|b| b.is_empty() || b.len() == self.d)
            && [&s_diag, &z_diag, &scores]
                .iter()
                .all(|b| b.len() <= 3 * (self.d + self.p));
        if !ok {
            return Err(SimError::BadCheckpoint {
                reason: "the saved multi-feature state has other dimensions than the config".into(),
            });
        }
        (self.u, self.v, self.w, self.steps) = (s.u, s.v, s.w, s.steps);
        (self.y, self.y0, self.y1) = (y, y0, y1);
        (self.c, self.c0, self.c1) = (c, c0, c1);
        (self.s_diag, self.z_diag, self.scores) = (s_diag, z_diag, scores);
        Ok(())
    }
}
