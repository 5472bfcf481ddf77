//! The exact Gram engine (THEORY §7): the law of the macroscopic chain `M_k` at finite n,
//! sampled in O(m^3) per step with m = 2d + 1, whatever n is.
//!
//! The noise is isotropic, so the chain started at `O X_0` is `O X_k` for any orthogonal
//! O, and only `M_k = X_k^T X_k` matters. Keep `X = Q R` with `R` upper triangular (m x m)
//! in an orthonormal frame Q of span(X). One step of eq. 5 needs of the noise vectors only
//! their components in the frame (`alpha`, `beta ~ N(0, I_m)` for the real and the first
//! fake sample), the score of the second fake sample (`c~^T r + sqrt(eta_G z) gamma`), and
//! the part of the w-update that leaves the span: `(tau / n) xi`, with xi isotropic in the
//! (n - m)-dimensional complement and `|xi| = s chi_{n-m}`,
//! `s^2 = eta_T f(y^T w)^2 + eta_G f~(y~^T w)^2`. That part becomes a new row under w's
//! column; the (m + 1) x m matrix is re-triangularised by Householder QR (and its columns
//! rescaled for lambda = infinity). The law of every `M_k` equals that of the full
//! simulation's (checked by `cargo xtask validate`, `gram_equals_full_in_law`).

use crate::{MicroState, SimError};
use hdgan_core::{Lambda, MacroState};
use hdgan_model::random::{ChiSquare, SimRng};
use hdgan_model::{Model, Regularizer};

/// The Gram engine: state `R` (m x m, column-major, upper triangular), `M = R^T R`.
#[derive(Clone, Debug)]
pub struct GramEngine {
    model: Model,
    n: usize,
    d: usize,
    m: usize,
    /// Column-major: column k is `r[k * m..(k + 1) * m]`; columns are U (d), V (d), w.
    r: Vec<f64>,
    steps: u64,
    blowup: f64,
    /// `chi^2_{n - m}`, or None when n = m (no complement).
    chi2: Option<ChiSquare>,
    variant: GramVariant,
    scratch: Scratch,
}

/// Buffers reused by every step (no allocation on the hot path).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct Scratch {
    draws: StepDraws,
    yin: Vec<f64>,
    y0in: Vec<f64>,
    rv: Vec<f64>,
    reg_v: Vec<f64>,
    ext: Vec<f64>,
    house: Vec<f64>,
}

/// One Gram step's random draws, in the order the step takes them from its stream: the
/// latents `c`, `c~` (first fake sample) and `c~` (second), then `alpha`, `beta` (m each)
/// and `gamma`. When both latent laws are single Gaussians these are 3d + 2m + 1
/// consecutive standard normals, drawn in one batch; otherwise each latent draws its own
/// (a mixture's class first). Either way the same draws as one call per quantity.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct StepDraws {
    d: usize,
    m: usize,
    /// The normals: 3d for the latents (Gaussian case only), alpha, beta, gamma.
    raw: Vec<f64>,
    /// The three latent vectors.
    lat: Vec<f64>,
}

impl StepDraws {
    pub(crate) fn new(d: usize) -> Self {
        let m = 2 * d + 1;
        Self {
            d,
            m,
            raw: vec![0.0; 3 * d + 2 * m + 1],
            lat: vec![0.0; 3 * d],
        }
    }

    /// Draws one step's numbers from `rng`.
    #[inline]
    pub(crate) fn draw(&mut self, model: &Model, rng: &mut SimRng) {
        let d = self.d;
        let (lat, tilde) = (model.latent(), model.latent_tilde());
        if lat.is_gaussian() && tilde.is_gaussian() {
            rng.fill_normals(&mut self.raw);
            lat.from_normals(&self.raw[..d], &mut self.lat[..d]);
            tilde.from_normals(&self.raw[d..2 * d], &mut self.lat[d..2 * d]);
            tilde.from_normals(&self.raw[2 * d..3 * d], &mut self.lat[2 * d..]);
        } else {
            lat.sample(rng, &mut self.lat[..d]);
            tilde.sample(rng, &mut self.lat[d..2 * d]);
            tilde.sample(rng, &mut self.lat[2 * d..]);
            rng.fill_normals(&mut self.raw[3 * d..]);
        }
    }

    /// The real sample's latent `c`.
    pub(crate) fn c(&self) -> &[f64] {
        &self.lat[..self.d]
    }

    /// The first fake sample's latent.
    pub(crate) fn c0(&self) -> &[f64] {
        &self.lat[self.d..2 * self.d]
    }

    /// The second fake sample's latent.
    pub(crate) fn c1(&self) -> &[f64] {
        &self.lat[2 * self.d..]
    }

    /// The real sample's noise in the frame.
    pub(crate) fn alpha(&self) -> &[f64] {
        &self.raw[3 * self.d..3 * self.d + self.m]
    }

    /// The first fake sample's noise in the frame.
    pub(crate) fn beta(&self) -> &[f64] {
        &self.raw[3 * self.d + self.m..3 * self.d + 2 * self.m]
    }

    /// The normal in the second fake sample's score.
    pub(crate) fn gamma(&self) -> f64 {
        self.raw[3 * self.d + 2 * self.m]
    }
}

/// Deliberately wrong variants, for negative controls of the in-law checks only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GramVariant {
    /// The engine of THEORY §7.
    #[default]
    Exact,
    /// The norm of the out-of-span noise uses chi with `(n - m) / 4` degrees of freedom.
    WrongChiDof,
    /// The out-of-span noise is dropped.
    NoPerpendicularNoise,
}

/// See [`GramEngine::draw_chi`].
#[inline]
fn draw_chi(law: Option<&ChiSquare>, variant: GramVariant, rng: &mut SimRng) -> f64 {
    match (law, variant) {
        (_, GramVariant::NoPerpendicularNoise) | (None, _) => 0.0,
        (Some(law), _) => law.sample(rng).sqrt(),
    }
}

fn col(r: &[f64], m: usize, k: usize) -> &[f64] {
    &r[k * m..(k + 1) * m]
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Upper-triangular `R` (column-major, m x m) with `R^T R = g` for a symmetric PSD `g`
/// (row-major m x m): Cholesky, with pivots below `1e-14` of the largest diagonal entry
/// treated as zero (dependent columns).
fn cholesky_upper(g: &[f64], m: usize) -> Vec<f64> {
    let scale = (0..m)
        .map(|i| g[i * m + i].abs())
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let mut r = vec![0.0; m * m]; // column-major R: r[j * m + i] = R_ij
    for j in 0..m {
        for i in 0..=j {
            let mut s = g[i * m + j];
            for k in 0..i {
                s -= r[i * m + k] * r[j * m + k];
            }
            if i == j {
                r[j * m + j] = if s > 1e-14 * scale { s.sqrt() } else { 0.0 };
            } else {
                let piv = r[i * m + i];
                r[j * m + i] = if piv > 0.0 { s / piv } else { 0.0 };
            }
        }
    }
    r
}

/// Householder QR of the (m + 1) x m column-major matrix `a` (leading dimension m + 1),
/// writing the m x m upper-triangular factor (column-major, non-negative diagonal) into
/// `r`; `v` is scratch of length m + 1.
///
/// The first `done` columns must already be triangular with a non-negative diagonal (zero
/// below their diagonal entry): their reflections would only flip a row's sign twice, so
/// the factorisation starts at column `done`. The step passes `done = d` (U's columns never
/// change), which cuts the work from a (m + 1) x m to a (d + 2) x (d + 1) problem.
fn qr_upper_into(a: &mut [f64], m: usize, done: usize, v: &mut [f64], r: &mut [f64]) {
    let ld = m + 1;
    for k in done..m {
        let norm = (k..ld)
            .map(|i| a[k * ld + i] * a[k * ld + i])
            .sum::<f64>()
            .sqrt();
        if norm == 0.0 {
            continue;
        }
        let alpha = if a[k * ld + k] > 0.0 { -norm } else { norm };
        let v = &mut v[..ld - k];
        for (vi, i) in v.iter_mut().zip(k..ld) {
            *vi = a[k * ld + i];
        }
        v[0] -= alpha;
        let vv = dot(v, v);
        if vv == 0.0 {
            continue;
        }
        for j in k..m {
            let c = &mut a[j * ld..(j + 1) * ld];
            let s = 2.0 * (k..ld).map(|i| v[i - k] * c[i]).sum::<f64>() / vv;
            for i in k..ld {
                c[i] -= s * v[i - k];
            }
        }
    }
    r.fill(0.0);
    for j in 0..m {
        for i in 0..=j {
            r[j * m + i] = a[j * ld + i];
        }
    }
    // Non-negative diagonal: flip rows (R -> D R with D = diag(+-1) keeps R^T R).
    for i in 0..m {
        if r[i * m + i] < 0.0 {
            for j in i..m {
                r[j * m + i] = -r[j * m + i];
            }
        }
    }
}

#[cfg(test)]
fn qr_upper(a: &mut [f64], m: usize) -> Vec<f64> {
    let mut r = vec![0.0; m * m];
    let mut v = vec![0.0; m + 1];
    qr_upper_into(a, m, 0, &mut v, &mut r);
    r
}

impl GramEngine {
    /// An engine started from the Gram matrix of a macroscopic state (U^T U = I).
    pub fn from_macro(model: &Model, state: &MacroState, blowup: f64) -> Self {
        Self::from_gram(model, state.gram().as_slice(), blowup)
    }

    /// An engine started from the exact Gram matrix of a microscopic state.
    pub fn from_micro(model: &Model, x: &MicroState, blowup: f64) -> Self {
        let mut g = x.macro_state().gram();
        // Use the exact U^T U (1 up to round-off) rather than the identity.
        let ug = x.feature_gram();
        for i in 0..x.d {
            for j in 0..x.d {
                g[(i, j)] = ug[(i, j)];
            }
        }
        Self::from_gram(model, g.as_slice(), blowup)
    }

    fn from_gram(model: &Model, g: &[f64], blowup: f64) -> Self {
        let d = model.d();
        let m = 2 * d + 1;
        let n = model.n();
        Self {
            model: model.clone(),
            n,
            d,
            m,
            r: cholesky_upper(g, m),
            steps: 0,
            blowup,
            chi2: (n > m)
                .then(|| ChiSquare::new((n - m) as f64).expect("n - m > 0 degrees of freedom")),
            variant: GramVariant::Exact,
            scratch: Scratch {
                draws: StepDraws::new(d),
                yin: vec![0.0; m],
                y0in: vec![0.0; m],
                rv: vec![0.0; d],
                reg_v: vec![0.0; d],
                ext: vec![0.0; (m + 1) * m],
                house: vec![0.0; m + 1],
            },
        }
    }

    /// Feature count d.
    pub(crate) fn d(&self) -> usize {
        self.d
    }

    /// The model.
    pub(crate) fn model(&self) -> &Model {
        &self.model
    }

    /// The factor R (column-major m x m).
    pub(crate) fn factor(&self) -> &[f64] {
        &self.r
    }

    /// The factor R, to be written by a lane-batched step.
    pub(crate) fn factor_mut(&mut self) -> &mut [f64] {
        &mut self.r
    }

    /// The out-of-span noise's norm `chi` for one step: a chi variable with n - m degrees
    /// of freedom (0 when n = m, or for the variant without that noise).
    #[inline]
    pub(crate) fn draw_chi(&self, rng: &mut SimRng) -> f64 {
        draw_chi(self.chi2.as_ref(), self.variant, rng)
    }

    /// Counts `k` steps taken by a lane-batched step that wrote the factor.
    pub(crate) fn add_steps(&mut self, k: u64) {
        self.steps += k;
    }

    /// The divergence bound on `z` and every `S_jj`.
    pub(crate) fn blowup(&self) -> f64 {
        self.blowup
    }

    /// Switches to a deliberately wrong variant (negative controls only).
    pub fn with_variant(mut self, variant: GramVariant) -> Self {
        if let GramVariant::WrongChiDof = variant {
            let k = ((self.n - self.m) / 4).max(1) as f64;
            self.chi2 = Some(ChiSquare::new(k).expect("positive degrees of freedom"));
        }
        self.variant = variant;
        self
    }

    /// Stops a diverged run: `z` and every `S_jj`, the squared norms of R's columns (the
    /// same numbers as in [`GramEngine::macro_state`], without building it each step).
    pub(crate) fn check(&self) -> Result<(), SimError> {
        let (d, m) = (self.d, self.m);
        let norm = |k: usize| dot(col(&self.r, m, k), col(&self.r, m, k));
        let t = self.steps as f64 / self.n as f64;
        let err = |quantity: String, value: f64| SimError::Diverged {
            t,
            step: self.steps,
            quantity,
            value,
        };
        let z = norm(2 * d);
        if !(z.is_finite() && z <= self.blowup) {
            return Err(err("z = |w|^2".into(), z));
        }
        for j in 0..d {
            let v = norm(d + j);
            if !(v.is_finite() && v <= self.blowup) {
                return Err(err(format!("S{0}{0} = |V_{0}|^2", j + 1), v));
            }
        }
        Ok(())
    }
}

/// The stepping itself; the run loop's [`Engine`](crate::Engine) view of the engine (one member, or
/// [`crate::LANES`] members stepped together) is in `gram_lanes.rs`.
impl GramEngine {
    /// Ambient dimension n.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Steps taken so far.
    pub fn steps_done(&self) -> u64 {
        self.steps
    }

    /// One SGDA step of the chain (THEORY §7).
    pub fn step(&mut self, rng: &mut SimRng) -> Result<(), SimError> {
        let (d, m, nf) = (self.d, self.m, self.n as f64);
        let model = &self.model;
        let sc = &mut self.scratch;
        let (a, at) = (model.tau() / nf, model.tau_tilde() / nf);
        let (st, sg) = (model.eta_t().sqrt(), model.eta_g().sqrt());
        sc.draws.draw(model, rng);
        // The last draw of the step (after gamma).
        let chi = draw_chi(self.chi2.as_ref(), self.variant, rng);
        let dr = &sc.draws;
        let (c, c0, c1, gamma) = (dr.c(), dr.c0(), dr.c1(), dr.gamma());
        let r = &self.r;
        let rw = col(r, m, 2 * d);
        // In-frame parts of y and y~_2k.
        for i in 0..m {
            sc.yin[i] = st * dr.alpha()[i];
            sc.y0in[i] = sg * dr.beta()[i];
        }
        for j in 0..d {
            for (y, u) in sc.yin.iter_mut().zip(col(r, m, j)) {
                *y += c[j] * u;
            }
            for (y, v) in sc.y0in.iter_mut().zip(col(r, m, d + j)) {
                *y += c0[j] * v;
            }
        }
        let z = dot(rw, rw);
        for j in 0..d {
            sc.rv[j] = dot(col(r, m, d + j), rw);
        }
        let f = model.loss().f(dot(&sc.yin, rw));
        let f0 = model.loss().f_tilde(dot(&sc.y0in, rw));
        let f1 = model
            .loss()
            .f_tilde(dot(c1, &sc.rv) + sg * z.sqrt() * gamma);
        let reg_w = match model.lambda() {
            Lambda::Finite(l) => {
                let h = model.regularizer();
                for j in 0..d {
                    let v = col(r, m, d + j);
                    sc.reg_v[j] = l * h.h_prime(dot(v, v));
                }
                l * h.h_prime(z)
            }
            Lambda::Infinite => {
                sc.reg_v.fill(0.0);
                0.0
            }
        };
        let s_perp = (model.eta_t() * f * f + model.eta_g() * f0 * f0).sqrt();
        // The (m + 1) x m matrix of the new columns in the extended frame.
        let ld = m + 1;
        let ext = &mut sc.ext;
        ext.fill(0.0);
        for j in 0..d {
            ext[j * ld..j * ld + m].copy_from_slice(col(r, m, j));
            let (kv, kw) = (1.0 - at * sc.reg_v[j], at * f1 * c1[j]);
            for i in 0..m {
                ext[(d + j) * ld + i] = kv * r[(d + j) * m + i] + kw * rw[i];
            }
        }
        for i in 0..m {
            ext[2 * d * ld + i] = rw[i] + a * (f * sc.yin[i] - f0 * sc.y0in[i] - reg_w * rw[i]);
        }
        ext[2 * d * ld + m] = a * s_perp * chi;
        qr_upper_into(ext, m, d, &mut sc.house, &mut self.r);
        if model.lambda().is_infinite() {
            for k in d..m {
                let c = &mut self.r[k * m..(k + 1) * m];
                let norm = dot(c, c).sqrt();
                if norm > 0.0 {
                    for x in c.iter_mut() {
                        *x /= norm;
                    }
                }
            }
        }
        self.steps += 1;
        self.check()
    }

    /// The overlaps of the current state.
    pub fn macro_state(&self) -> MacroState {
        let (d, m) = (self.d, self.m);
        let g = |i: usize, j: usize| dot(col(&self.r, m, i), col(&self.r, m, j));
        let mut s = MacroState::zeros(d);
        for i in 0..d {
            for j in 0..d {
                s.p[(i, j)] = g(i, d + j);
                s.s[(i, j)] = g(d + i, d + j);
            }
            s.q[i] = g(i, 2 * d);
            s.r[i] = g(d + i, 2 * d);
        }
        s.z = g(2 * d, 2 * d);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdgan_core::DMat;
    use hdgan_model::ModelConfig;
    use hdgan_model::random::stream_rng;

    #[test]
    fn cholesky_and_qr_reproduce_the_gram_matrix() {
        let mut s = MacroState::diagonal_start(2, 0.3, 0.2);
        s.p[(0, 1)] = 0.1;
        let g = s.gram();
        let r = cholesky_upper(g.as_slice(), 5);
        let back = |r: &[f64]| -> DMat {
            DMat::from_row_major(
                5,
                5,
                (0..25)
                    .map(|k| dot(col(r, 5, k / 5), col(r, 5, k % 5)))
                    .collect(),
            )
        };
        assert!(back(&r).max_abs_diff(&g) < 1e-14);
        // QR of [R; extra row] has R'^T R' = R^T R + e e^T for the extra row e.
        let mut ext = vec![0.0; 6 * 5];
        for j in 0..5 {
            ext[j * 6..j * 6 + 5].copy_from_slice(col(&r, 5, j));
        }
        ext[4 * 6 + 5] = 0.7;
        let q = qr_upper(&mut ext, 5);
        let mut want = g.clone();
        want[(4, 4)] += 0.49;
        assert!(back(&q).max_abs_diff(&want) < 1e-13);
        assert!((0..5).all(|i| q[i * 5 + i] >= 0.0));
        // Starting at column 2 (the U columns are triangular already) gives the same
        // factor up to round-off, on a matrix whose later columns are full.
        let mut full = vec![0.0; 6 * 5];
        for j in 0..5 {
            full[j * 6..j * 6 + 5].copy_from_slice(col(&r, 5, j));
        }
        for (k, x) in full[2 * 6..].iter_mut().enumerate() {
            *x += 0.1 * ((k * 7 % 11) as f64 - 5.0);
        }
        let mut again = full.clone();
        let (mut v, mut r0, mut r2) = (vec![0.0; 6], vec![0.0; 25], vec![0.0; 25]);
        qr_upper_into(&mut full, 5, 0, &mut v, &mut r0);
        qr_upper_into(&mut again, 5, 2, &mut v, &mut r2);
        let diff = r0
            .iter()
            .zip(&r2)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(diff < 1e-14, "{diff}");
        assert!(r0 != vec![0.0; 25] && (0..5).all(|i| r2[i * 5 + i] >= 0.0));
    }

    #[test]
    fn projected_gram_steps_keep_unit_norms() {
        let m = ModelConfig::figure1(500, 2.0).validate("m").unwrap();
        let mut e = GramEngine::from_macro(
            &m,
            &MacroState::diagonal_start(2, 0.1, 0.1),
            crate::DEFAULT_BLOWUP,
        );
        let mut rng = stream_rng(1, 0);
        for _ in 0..2000 {
            e.step(&mut rng).unwrap();
        }
        let s = e.macro_state();
        assert!((s.z - 1.0).abs() < 1e-12 && (s.s[(0, 0)] - 1.0).abs() < 1e-12);
        let ev = hdgan_core::SymPsd::new("gram", s.gram());
        assert!(ev.is_ok(), "Gram matrix must stay PSD");
    }
}

/// What a [`GramEngine`] step reads besides the model: its checkpoint.
#[derive(serde::Serialize, serde::Deserialize)]
struct GramSnapshot {
    m: usize,
    r: Vec<f64>,
    steps: u64,
    scratch: Scratch,
}

impl crate::Checkpoint for GramEngine {
    fn save_state(&self) -> Vec<u8> {
        crate::checkpoint::encode(&GramSnapshot {
            m: self.m,
            r: self.r.clone(),
            steps: self.steps,
            scratch: self.scratch.clone(),
        })
    }

    fn restore_state(&mut self, bytes: &[u8]) -> Result<(), SimError> {
        let s: GramSnapshot = crate::checkpoint::decode(bytes)?;
        if s.m != self.m || s.r.len() != self.r.len() {
            return Err(SimError::BadCheckpoint {
                reason: "the saved Gram-engine state has other dimensions than the config".into(),
            });
        }
        self.r = s.r;
        self.steps = s.steps;
        self.scratch = s.scratch;
        Ok(())
    }
}
