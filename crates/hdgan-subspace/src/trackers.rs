//! The four trackers. Notation: `x` the sample (length n), `V` the n x d basis
//! (column-major), `z = V^T x` its coordinates, `t` the number of samples seen before `x`.

use crate::metrics::orthonormalize;

/// A streaming estimator of a d-dimensional principal subspace.
pub trait Tracker: Send {
    /// Takes one sample (length n).
    fn update(&mut self, x: &[f64]);
    /// The current basis, column-major n x d (orthonormal for Oja and GROUSE; PAST's and
    /// PETRELS' columns are only approximately so).
    fn basis(&self) -> &[f64];
    /// The method's name in outputs.
    fn name(&self) -> &'static str;
}

/// The trackers by name (for command-line flags and configs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TrackerKind {
    /// [`Oja`].
    Oja,
    /// [`Grouse`].
    Grouse,
    /// [`Past`].
    Past,
    /// [`Petrels`].
    Petrels,
}

impl TrackerKind {
    /// Every tracker, in the order outputs list them.
    pub const ALL: [TrackerKind; 4] = [Self::Oja, Self::Grouse, Self::Past, Self::Petrels];

    /// The lower-case name (`oja`, `grouse`, `past`, `petrels`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Oja => "oja",
            Self::Grouse => "grouse",
            Self::Past => "past",
            Self::Petrels => "petrels",
        }
    }

    /// The tracker called `name`, or an error listing the names there are.
    pub fn parse(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| {
                format!(
                    "unknown baseline {name:?}: the baselines are {}",
                    Self::ALL.map(|k| k.name()).join(", ")
                )
            })
    }

    /// A tracker of this kind with its default options, started from `start` (column-major
    /// n x d, independent columns).
    pub fn build(self, start: &[f64], n: usize, d: usize) -> Box<dyn Tracker> {
        match self {
            Self::Oja => Box::new(Oja::new(start, n, d, OjaOptions::default())),
            Self::Grouse => Box::new(Grouse::new(start, n, d, GrouseOptions::default())),
            Self::Past => Box::new(Past::new(start, n, d, PastOptions::default())),
            Self::Petrels => Box::new(Petrels::new(start, n, d, PetrelsOptions::default())),
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `z = V^T x`.
fn project(v: &[f64], n: usize, x: &[f64], z: &mut [f64]) {
    for (zj, col) in z.iter_mut().zip(v.chunks_exact(n)) {
        *zj = dot(col, x);
    }
}

/// `e = x - V a` (a of length d).
fn residual(v: &[f64], n: usize, x: &[f64], a: &[f64], e: &mut [f64]) {
    e.copy_from_slice(x);
    for (col, aj) in v.chunks_exact(n).zip(a) {
        e.iter_mut().zip(col).for_each(|(ei, vi)| *ei -= aj * vi);
    }
}

/// `V += a b^T` (a of length n, b of length d).
fn rank_one(v: &mut [f64], n: usize, a: &[f64], b: &[f64]) {
    for (col, bj) in v.chunks_exact_mut(n).zip(b) {
        col.iter_mut().zip(a).for_each(|(x, ai)| *x += bj * ai);
    }
}

/// [`checked_start`], orthonormalised (Oja and GROUSE keep V orthonormal).
fn orthonormal_start(start: &[f64], n: usize, d: usize, who: &str) -> Vec<f64> {
    let mut v = checked_start(start, n, d, who);
    assert!(orthonormalize(&mut v, n), "{who}: dependent start");
    v
}

fn checked_start(start: &[f64], n: usize, d: usize, who: &str) -> Vec<f64> {
    assert!(
        n > 0 && d > 0 && d <= n && start.len() == n * d,
        "{who}: the start must be n x d with 1 <= d <= n"
    );
    start.to_vec()
}

/// Options of [`Oja`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OjaOptions {
    /// The step is `eta_t = rate / (n + t)`: `rate / n` at the start (the scale at which the
    /// rule has an ODE limit in `t / n`, like the GAN's `tau / n`), then decaying like
    /// `rate / t` (Robbins-Monro: the sum of the steps diverges, that of their squares does
    /// not), so the estimate keeps improving with the stream length. Default 1.
    pub rate: f64,
}

impl Default for OjaOptions {
    fn default() -> Self {
        Self { rate: 1.0 }
    }
}

/// Oja's subspace rule (E. Oja, "A simplified neuron model as a principal component
/// analyzer", J. Math. Biol. 1982; the subspace form of Oja & Karhunen, J. Math. Anal.
/// Appl. 1985): `V <- orth(V + eta_t x (x^T V))`, orthonormalised symmetrically
/// (`V' (V'^T V')^(-1/2)`, exact and O(n d) for this rank-one update), with a Gram-Schmidt
/// pass every n steps against round-off drift.
#[derive(Clone, Debug)]
pub struct Oja {
    n: usize,
    v: Vec<f64>,
    z: Vec<f64>,
    /// Scratch of length n.
    w: Vec<f64>,
    t: u64,
    opts: OjaOptions,
}

impl Oja {
    /// Starts from `start` (n x d), orthonormalised.
    pub fn new(start: &[f64], n: usize, d: usize, opts: OjaOptions) -> Self {
        let v = orthonormal_start(start, n, d, "Oja");
        Self {
            n,
            v,
            z: vec![0.0; d],
            w: vec![0.0; n],
            t: 0,
            opts,
        }
    }
}

impl Tracker for Oja {
    fn update(&mut self, x: &[f64]) {
        let n = self.n;
        let eta = self.opts.rate / (n as f64 + self.t as f64);
        self.t += 1;
        project(&self.v, n, x, &mut self.z);
        let zz = dot(&self.z, &self.z);
        self.z.iter_mut().for_each(|z| *z *= eta);
        rank_one(&mut self.v, n, x, &self.z);
        // With V orthonormal and z = V^T x, V' = V + eta x z^T has V'^T V' = I + g z z^T,
        // g = 2 eta + eta^2 |x|^2: rank one, so V' (V'^T V')^(-1/2) = V' + (s - 1) (V' u) u^T
        // with u = z / |z| and s = (1 + g |z|^2)^(-1/2), an O(n d) orthonormalisation of
        // the same span (Oja's rule depends on V only through its span).
        if zz > 0.0 && eta > 0.0 {
            let g = 2.0 * eta + eta * eta * dot(x, x);
            let s = 1.0 / (1.0 + g * zz).sqrt();
            let norm = (zz * eta * eta).sqrt();
            self.z.iter_mut().for_each(|z| *z /= norm);
            self.w.fill(0.0);
            for (col, uj) in self.v.chunks_exact(n).zip(&self.z) {
                self.w
                    .iter_mut()
                    .zip(col)
                    .for_each(|(wi, vi)| *wi += uj * vi);
            }
            self.z.iter_mut().for_each(|z| *z *= s - 1.0);
            rank_one(&mut self.v, n, &self.w, &self.z);
        }
        // Round-off drift away from orthonormality is removed once every n steps.
        if self.t.is_multiple_of(n as u64) {
            let ok = orthonormalize(&mut self.v, n);
            debug_assert!(ok);
        }
    }
    fn basis(&self) -> &[f64] {
        &self.v
    }
    fn name(&self) -> &'static str {
        "oja"
    }
}

/// Options of [`Grouse`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GrouseOptions {
    /// The step is `eta_t = rate / (n + t)` (the paper's `C / t` schedule, started at
    /// `rate / n` so that the first rotations are of angle O(1 / sqrt(n)), as Oja's).
    /// Default 1.
    pub rate: f64,
}

impl Default for GrouseOptions {
    fn default() -> Self {
        Self { rate: 1.0 }
    }
}

/// GROUSE (L. Balzano, R. Nowak, B. Recht, "Online identification and tracking of subspaces
/// from highly incomplete information", Allerton 2010), every entry observed: with `V`
/// orthonormal, `w = V^T x`, `p = V w`, `r = x - p`, `sigma = |r| |p|`, the geodesic step
/// `V <- V + ((cos(sigma eta_t) - 1) p / |p| + sin(sigma eta_t) r / |r|) w^T / |w|`, which
/// keeps `V` orthonormal.
#[derive(Clone, Debug)]
pub struct Grouse {
    n: usize,
    v: Vec<f64>,
    w: Vec<f64>,
    p: Vec<f64>,
    dir: Vec<f64>,
    t: u64,
    opts: GrouseOptions,
}

impl Grouse {
    /// Starts from `start` (n x d), orthonormalised.
    pub fn new(start: &[f64], n: usize, d: usize, opts: GrouseOptions) -> Self {
        let v = orthonormal_start(start, n, d, "GROUSE");
        Self {
            n,
            v,
            w: vec![0.0; d],
            p: vec![0.0; n],
            dir: vec![0.0; n],
            t: 0,
            opts,
        }
    }
}

impl Tracker for Grouse {
    fn update(&mut self, x: &[f64]) {
        let n = self.n;
        let eta = self.opts.rate / (n as f64 + self.t as f64);
        self.t += 1;
        project(&self.v, n, x, &mut self.w);
        self.p.fill(0.0);
        for (col, wj) in self.v.chunks_exact(n).zip(&self.w) {
            self.p
                .iter_mut()
                .zip(col)
                .for_each(|(pi, vi)| *pi += wj * vi);
        }
        let pn = dot(&self.p, &self.p).sqrt();
        let wn = dot(&self.w, &self.w).sqrt();
        // r = x - p, kept in `dir` until the step direction is formed.
        for ((ri, xi), pi) in self.dir.iter_mut().zip(x).zip(&self.p) {
            *ri = xi - pi;
        }
        let rn = dot(&self.dir, &self.dir).sqrt();
        if !(pn > 0.0 && rn > 0.0 && wn > 0.0) {
            // x in the span or orthogonal to it: no rotation.
            return;
        }
        let theta = rn * pn * eta;
        let (a, b) = (((theta.cos() - 1.0) / pn), theta.sin() / rn);
        for (di, pi) in self.dir.iter_mut().zip(&self.p) {
            *di = a * pi + b * *di;
        }
        self.w.iter_mut().for_each(|w| *w /= wn);
        rank_one(&mut self.v, n, &self.dir, &self.w);
    }
    fn basis(&self) -> &[f64] {
        &self.v
    }
    fn name(&self) -> &'static str {
        "grouse"
    }
}

/// Options of [`Past`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PastOptions {
    /// Forgetting factor beta in (0, 1]; 1 (default) weighs every past sample equally,
    /// the choice for a stationary stream.
    pub beta: f64,
    /// `P_0 = delta I`, the initial inverse correlation of the coordinates (default 1).
    pub delta: f64,
}

impl Default for PastOptions {
    fn default() -> Self {
        Self {
            beta: 1.0,
            delta: 1.0,
        }
    }
}

/// PAST (B. Yang, "Projection approximation subspace tracking", IEEE Trans. Signal
/// Process. 43(1), 1995), the recursive-least-squares form of its Table I:
/// `y = W^T x`, `h = P y`, `g = h / (beta + y^T h)`, `P <- Tri{P - g h^T} / beta`,
/// `e = x - W y`, `W <- W + e g^T` (Tri: keep P symmetric).
#[derive(Clone, Debug)]
pub struct Past {
    n: usize,
    d: usize,
    w: Vec<f64>,
    /// P, row-major d x d.
    p: Vec<f64>,
    y: Vec<f64>,
    h: Vec<f64>,
    e: Vec<f64>,
    opts: PastOptions,
}

impl Past {
    /// Starts from `start` (n x d) as given.
    pub fn new(start: &[f64], n: usize, d: usize, opts: PastOptions) -> Self {
        assert!(
            opts.beta > 0.0 && opts.beta <= 1.0 && opts.delta > 0.0,
            "PAST: 0 < beta <= 1, delta > 0"
        );
        let mut p = vec![0.0; d * d];
        (0..d).for_each(|i| p[i * d + i] = opts.delta);
        Self {
            n,
            d,
            w: checked_start(start, n, d, "PAST"),
            p,
            y: vec![0.0; d],
            h: vec![0.0; d],
            e: vec![0.0; n],
            opts,
        }
    }
}

/// The recursive-least-squares update shared by PAST and PETRELS: with `h = P y` already in
/// `h`, `g = h / (beta + y^T h)` is written into `h` and `P <- (P - g h^T) / beta`,
/// symmetrised.
fn rls_gain(p: &mut [f64], d: usize, y: &[f64], h: &mut [f64], beta: f64) {
    let denom = beta + dot(y, h);
    for i in 0..d {
        for j in 0..=i {
            let v = (p[i * d + j] - h[i] * h[j] / denom) / beta;
            p[i * d + j] = v;
            p[j * d + i] = v;
        }
    }
    h.iter_mut().for_each(|x| *x /= denom);
}

/// `h = P y` for row-major d x d P.
fn mat_vec(p: &[f64], d: usize, y: &[f64], h: &mut [f64]) {
    for (i, hi) in h.iter_mut().enumerate() {
        *hi = dot(&p[i * d..(i + 1) * d], y);
    }
}

impl Tracker for Past {
    fn update(&mut self, x: &[f64]) {
        let (n, d) = (self.n, self.d);
        project(&self.w, n, x, &mut self.y);
        mat_vec(&self.p, d, &self.y, &mut self.h);
        rls_gain(&mut self.p, d, &self.y, &mut self.h, self.opts.beta);
        residual(&self.w, n, x, &self.y, &mut self.e);
        rank_one(&mut self.w, n, &self.e, &self.h);
    }
    fn basis(&self) -> &[f64] {
        &self.w
    }
    fn name(&self) -> &'static str {
        "past"
    }
}

/// Options of [`Petrels`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PetrelsOptions {
    /// Discount factor lambda in (0, 1]; 1 (default) for a stationary stream.
    pub lambda: f64,
    /// `R_0^{-1} = delta I` (default 1).
    pub delta: f64,
}

impl Default for PetrelsOptions {
    fn default() -> Self {
        Self {
            lambda: 1.0,
            delta: 1.0,
        }
    }
}

/// PETRELS (Y. Chi, Y. C. Eldar, R. Calderbank, "PETRELS: Parallel subspace estimation and
/// tracking by recursive least squares from partial observations", IEEE Trans. Signal
/// Process. 61(23), 2013, Algorithm 1) with every entry observed, when all rows share one
/// `R`: the coefficients `a = argmin |x - D a|` (least squares, through the d x d Gram
/// matrix `D^T D`), then `R <- lambda R + a a^T` kept as its inverse by Sherman-Morrison,
/// and `D <- D + (x - D a) a^T R^{-1}` with the updated inverse.
#[derive(Clone, Debug)]
pub struct Petrels {
    n: usize,
    d: usize,
    dm: Vec<f64>,
    /// R^{-1}, row-major d x d.
    rinv: Vec<f64>,
    a: Vec<f64>,
    h: Vec<f64>,
    v: Vec<f64>,
    e: Vec<f64>,
    /// L with `L L^T = D^T D` (lower, row-major d x d), valid when `factored`.
    chol: Vec<f64>,
    factored: bool,
    t: u64,
    opts: PetrelsOptions,
}

impl Petrels {
    /// Starts from `start` (n x d) as given.
    pub fn new(start: &[f64], n: usize, d: usize, opts: PetrelsOptions) -> Self {
        assert!(
            opts.lambda > 0.0 && opts.lambda <= 1.0 && opts.delta > 0.0,
            "PETRELS: 0 < lambda <= 1, delta > 0"
        );
        let mut rinv = vec![0.0; d * d];
        (0..d).for_each(|i| rinv[i * d + i] = opts.delta);
        Self {
            n,
            d,
            dm: checked_start(start, n, d, "PETRELS"),
            rinv,
            a: vec![0.0; d],
            h: vec![0.0; d],
            v: vec![0.0; d],
            e: vec![0.0; n],
            chol: vec![0.0; d * d],
            factored: false,
            t: 0,
            opts,
        }
    }

    /// Cholesky factor of `D^T D` from scratch (O(n d^2)); false if it is singular.
    fn factor(&mut self) -> bool {
        let (n, d) = (self.n, self.d);
        let (dm, g) = (&self.dm, &mut self.chol);
        for i in 0..d {
            for j in 0..=i {
                let mut s = dot(&dm[i * n..(i + 1) * n], &dm[j * n..(j + 1) * n]);
                for k in 0..j {
                    s -= g[i * d + k] * g[j * d + k];
                }
                if i == j {
                    if s.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                        return false;
                    }
                    g[i * d + i] = s.sqrt();
                } else {
                    g[i * d + j] = s / g[j * d + j];
                }
            }
        }
        true
    }

    /// `a = (D^T D)^{-1} D^T x` with the current factor.
    fn least_squares(&mut self, x: &[f64]) {
        let (n, d, g) = (self.n, self.d, &self.chol);
        project(&self.dm, n, x, &mut self.a);
        for i in 0..d {
            let s = self.a[i] - dot(&g[i * d..i * d + i], &self.a[..i]);
            self.a[i] = s / g[i * d + i];
        }
        for i in (0..d).rev() {
            let mut s = self.a[i];
            for k in i + 1..d {
                s -= g[k * d + i] * self.a[k];
            }
            self.a[i] = s / g[i * d + i];
        }
    }

    /// `L L^T <- L L^T + v v^T` in O(d^2) (the standard rank-one Cholesky update); `v` is
    /// overwritten.
    fn chol_update(&mut self) {
        let (d, l, v) = (self.d, &mut self.chol, &mut self.v);
        for k in 0..d {
            let lkk = l[k * d + k];
            let r = lkk.hypot(v[k]);
            let (c, s) = (r / lkk, v[k] / lkk);
            l[k * d + k] = r;
            for i in k + 1..d {
                l[i * d + k] = (l[i * d + k] + s * v[i]) / c;
                v[i] = c * v[i] - s * l[i * d + k];
            }
        }
    }
}

impl Tracker for Petrels {
    fn update(&mut self, x: &[f64]) {
        let (n, d) = (self.n, self.d);
        // The factor of D^T D is updated in O(d^2) per step and recomputed every n steps
        // (round-off) or when it is not valid.
        if !self.factored || self.t.is_multiple_of(n as u64) {
            self.factored = self.factor();
        }
        self.t += 1;
        if !self.factored {
            return;
        }
        self.least_squares(x);
        // R^{-1} <- (R^{-1} - g h^T) / lambda with h = R^{-1} a, g = h / (lambda + a^T h):
        // Sherman-Morrison for (lambda R + a a^T)^{-1}.
        mat_vec(&self.rinv, d, &self.a, &mut self.h);
        rls_gain(&mut self.rinv, d, &self.a, &mut self.h, self.opts.lambda);
        // The gain R_new^{-1} a equals the RLS gain g (now in h).
        residual(&self.dm, n, x, &self.a, &mut self.e);
        rank_one(&mut self.dm, n, &self.e, &self.h);
        // D' = D + e g^T with D^T e = 0 (least-squares residual): D'^T D' = D^T D + |e|^2 g g^T.
        let en = dot(&self.e, &self.e).sqrt();
        for (vi, hi) in self.v.iter_mut().zip(&self.h) {
            *vi = en * hi;
        }
        self.chol_update();
    }
    fn basis(&self) -> &[f64] {
        &self.dm
    }
    fn name(&self) -> &'static str {
        "petrels"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PlantedStream, alignment};
    use hdgan_model::random::stream_rng;

    /// Batch PCA's first-order subspace error from t samples of a spiked covariance
    /// (signal variances lam, unit noise): `E |sin Theta|_F^2 ~ sum_j (n - d)(lam_j + 1) /
    /// (lam_j^2 t)`. A tracker that uses its stream well gets within a constant of it.
    fn pca_error(n: usize, lam: &[f64], t: usize) -> f64 {
        let d = lam.len();
        lam.iter()
            .map(|l| (n - d) as f64 * (l + 1.0) / (l * l * t as f64))
            .sum()
    }

    /// Every tracker recovers a planted subspace: its final Grassmann distance is below
    /// 3 x batch PCA's error from the same number of samples, at two stream lengths (so the
    /// bound shrinks like 1 / sqrt(t)), averaged over 4 seeds. A tracker that does not
    /// learn stays near the random start's distance (about sqrt(d) pi / 2 for n >> d).
    #[test]
    fn every_tracker_recovers_a_planted_subspace() {
        let (n, lam) = (60, [8.0, 6.0, 4.0]);
        let d = lam.len();
        for kind in TrackerKind::ALL {
            for t in [20 * n, 80 * n] {
                let mut dist2 = 0.0;
                for seed in 0..4 {
                    let mut rng = stream_rng(5, seed);
                    let mut stream = PlantedStream::new(n, &lam, 1.0, &mut rng);
                    let start = stream.random_basis(d, &mut rng);
                    let mut tr = kind.build(&start, n, d);
                    let mut x = vec![0.0; n];
                    for _ in 0..t {
                        stream.sample(&mut rng, &mut x);
                        tr.update(&x);
                    }
                    let (_, dist) = alignment(stream.basis(), tr.basis(), n, d).unwrap();
                    dist2 += dist * dist / 4.0;
                }
                let bound = 3.0 * pca_error(n, &lam, t).sqrt();
                println!(
                    "{}: t = {t}: distance {:.4}, bound {bound:.4}",
                    kind.name(),
                    dist2.sqrt()
                );
                assert!(
                    dist2.sqrt() < bound,
                    "{} at t = {t}: {} >= {bound}",
                    kind.name(),
                    dist2.sqrt()
                );
            }
        }
    }

    /// The bound has power: Oja with a zero rate (no learning) stays far above it.
    #[test]
    fn a_tracker_that_does_not_learn_fails_the_bound() {
        let (n, lam) = (60, [8.0, 6.0, 4.0]);
        let mut rng = stream_rng(5, 9);
        let mut stream = PlantedStream::new(n, &lam, 1.0, &mut rng);
        let start = stream.random_basis(3, &mut rng);
        let mut oja = Oja::new(&start, n, 3, OjaOptions { rate: 0.0 });
        let mut x = vec![0.0; n];
        for _ in 0..20 * n {
            stream.sample(&mut rng, &mut x);
            oja.update(&x);
        }
        let (_, dist) = alignment(stream.basis(), oja.basis(), n, 3).unwrap();
        assert!(
            dist > 3.0 * pca_error(n, &lam, 20 * n).sqrt() * 2.0,
            "{dist}"
        );
    }

    /// The O(n d) shortcuts agree with doing it the long way: Oja's and GROUSE's bases stay
    /// orthonormal between Gram-Schmidt passes, and PETRELS' updated Cholesky factor equals
    /// a fresh one, after 59 steps (n = 60: just before the periodic refresh).
    #[test]
    fn the_o_nd_updates_keep_their_invariants() {
        let (n, lam) = (60, [8.0, 6.0, 4.0]);
        let mut rng = stream_rng(6, 0);
        let mut stream = PlantedStream::new(n, &lam, 1.0, &mut rng);
        let start = stream.random_basis(3, &mut rng);
        let mut oja = Oja::new(&start, n, 3, OjaOptions::default());
        let mut grouse = Grouse::new(&start, n, 3, GrouseOptions::default());
        let mut petrels = Petrels::new(&start, n, 3, PetrelsOptions::default());
        let mut x = vec![0.0; n];
        for _ in 0..59 {
            stream.sample(&mut rng, &mut x);
            oja.update(&x);
            grouse.update(&x);
            petrels.update(&x);
        }
        for v in [oja.basis(), grouse.basis()] {
            for i in 0..3 {
                for j in 0..3 {
                    let g = dot(&v[i * n..(i + 1) * n], &v[j * n..(j + 1) * n]);
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!((g - want).abs() < 1e-12, "V^T V [{i}][{j}] = {g}");
                }
            }
        }
        let updated = petrels.chol.clone();
        assert!(petrels.factor());
        let diff = updated
            .iter()
            .zip(&petrels.chol)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(
            diff < 1e-9 * petrels.chol[0],
            "Cholesky factors differ by {diff}"
        );
    }

    #[test]
    fn names_parse_and_unknown_names_list_the_choices() {
        for k in TrackerKind::ALL {
            assert_eq!(TrackerKind::parse(k.name()), Ok(k));
        }
        let e = TrackerKind::parse("sgd").unwrap_err();
        assert!(e.contains("oja, grouse, past, petrels"), "{e}");
    }
}
