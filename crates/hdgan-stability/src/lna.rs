//! The linear-noise approximation (THEORY §10): the finite-n fluctuations of the
//! macroscopic chain around the ODE.
//!
//! Write `M_k = M(k/n) + X(k/n) / sqrt(n)`. To leading order X is a Gaussian process with
//! covariance `Sigma(t)` solving
//!
//! ```text
//! dSigma/dt = J Sigma + Sigma J^T + D,     Sigma(0) = 0,
//! ```
//!
//! where `J` is the Jacobian of the ODE's right-hand side along the path and `D(M)` the
//! covariance of `n (M_{k+1} - M_k)` for one step given `M_k`. [`noise_covariance`] computes
//! `D` in closed form up to one-dimensional Gaussian averages (exact for the quadratic loss by
//! a five-node Gauss-Hermite rule, by quadrature for the others); [`fluctuations`] integrates
//! the path and `Sigma` together. With `lambda = inf` the chain lives on the constraint
//! (`z = 1`, `S_jj = 1`) and `Sigma` in the reduced coordinates of [`ReducedCoords`]; with a
//! finite `lambda` in the full overlaps (`S` symmetric), with `J` by central differences.
//!
//! Single-feature models (`p = 1`) with column normalisation, without an elementwise
//! penalty, any loss.

use crate::jacobian::{ReducedCoords, reduced_jacobian};
use hdgan_core::{DMat, MacroState, Trajectory};
use hdgan_macro_ode::{OdeError, OdeKind, OdeOptions, general_rhs, integrate, packed_rhs};
use hdgan_model::{HForm, Latent, Loss, Model, QUADRATURE, Quadrature, gaussian_average};

/// Why the linear-noise approximation cannot be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LnaError {
    /// The model is outside what the derivation covers: the config key and the rule.
    #[error("config key `{key}`: {rule}")]
    Unsupported {
        /// The config key.
        key: &'static str,
        /// The rule broken.
        rule: &'static str,
    },
    /// The augmented ODE failed.
    #[error(transparent)]
    Ode(#[from] OdeError),
}

/// Refuses the models the derivation does not cover.
pub fn check_supported(model: &Model) -> Result<(), LnaError> {
    let refuse = |key, rule| Err(LnaError::Unsupported { key, rule });
    if model.p() != 1 {
        return refuse(
            "model.p",
            "the fluctuation theory covers a single discriminator feature (p = 1)",
        );
    }
    if model.l1() > 0.0 {
        return refuse(
            "model.l1",
            "must be 0: with an elementwise penalty the overlaps do not form a closed chain",
        );
    }
    if !model.constraint().is_columns() && model.d() > 1 {
        return refuse(
            "model.constraint",
            "must be \"columns\": the fluctuations are derived for column normalisation",
        );
    }
    Ok(())
}

/// Index of each overlap in the flat layout of [`MacroState::pack`].
#[derive(Clone, Copy)]
struct Layout {
    d: usize,
}

impl Layout {
    fn len(self) -> usize {
        MacroState::packed_len(self.d)
    }
    fn p(self, i: usize, j: usize) -> usize {
        i * self.d + j
    }
    fn q(self, i: usize) -> usize {
        self.d * self.d + i
    }
    fn r(self, i: usize) -> usize {
        self.d * self.d + self.d + i
    }
    fn s(self, i: usize, j: usize) -> usize {
        self.d * self.d + 2 * self.d + i * self.d + j
    }
    fn z(self) -> usize {
        2 * self.d * self.d + 2 * self.d
    }
}

/// One sample's share of the step noise: a Gaussian vector `W` per latent class (weight,
/// mean, covariance), whose last entry is the score `x` the loss sees; the sample moves the
/// overlaps by `map * (phi(x) W, psi(x))`.
struct Block<'a> {
    classes: Vec<(f64, Vec<f64>, DMat)>,
    phi: &'a dyn Fn(f64) -> f64,
    psi: &'a dyn Fn(f64) -> f64,
    map: DMat,
}

/// `(E[Z], E[Z Z^T])` for `Z = (phi(x) W, psi(x))` over a mixture of Gaussians `W`, with `x`
/// `W`'s last entry. Given `x`, `W` is Gaussian with mean `mu + k (x - m_x)` and covariance
/// `C - s^2 k k^T` (`k = C[:, x] / s^2`), so every moment is a one-dimensional average over
/// `x` of `phi`, `psi` and powers of `x - m_x`.
fn block_moments(b: &Block<'_>, quad: Quadrature) -> (Vec<f64>, DMat) {
    let kk = b.classes[0].1.len();
    let last = kk - 1;
    let mut mean = vec![0.0; kk + 1];
    let mut second = DMat::zeros(kk + 1, kk + 1);
    for (pi, mu, c) in &b.classes {
        let s2 = c[(last, last)].max(0.0);
        let mx = mu[last];
        let k: Vec<f64> = (0..kk)
            .map(|a| {
                if s2 > 0.0 {
                    c[(a, last)] / s2
                } else if a == last {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        let e = gaussian_average(
            &|x: f64| {
                let dx = x - mx;
                let (f, g) = ((b.phi)(x), (b.psi)(x));
                [
                    f,
                    f * dx,
                    f * f,
                    f * f * dx,
                    f * f * dx * dx,
                    g,
                    g * g,
                    f * g,
                    f * g * dx,
                ]
            },
            mx,
            s2.sqrt(),
            quad,
        );
        for a in 0..kk {
            mean[a] += pi * (mu[a] * e[0] + k[a] * e[1]);
            for bb in 0..kk {
                let cc = c[(a, bb)] - s2 * k[a] * k[bb];
                second[(a, bb)] += pi
                    * (e[2] * (mu[a] * mu[bb] + cc)
                        + e[3] * (mu[a] * k[bb] + k[a] * mu[bb])
                        + e[4] * k[a] * k[bb]);
            }
            let cross = pi * (mu[a] * e[7] + k[a] * e[8]);
            second[(a, kk)] += cross;
            second[(kk, a)] += cross;
        }
        mean[kk] += pi * e[5];
        second[(kk, kk)] += pi * e[6];
    }
    (mean, second)
}

/// The classes of `B c + sqrt(eta) a` for `c` of law `latent` and `a ~ N(0, I_n)`, seen
/// through `X^T` (`B = X^T U` or `X^T V`, Gram columns `cols`): mean `B mu`, covariance
/// `B Sigma B^T + eta M`.
fn projected_classes(
    latent: &Latent,
    gram: &DMat,
    cols: std::ops::Range<usize>,
    eta: f64,
) -> Vec<(f64, Vec<f64>, DMat)> {
    let m = gram.rows();
    let cols: Vec<usize> = cols.collect();
    latent
        .components()
        .map(|(pi, mu, cov)| {
            // B = gram[:, cols]; mean B mu, covariance B Sigma B^T + eta M.
            let cov = cov.matrix();
            let mut c = DMat::zeros(m, m);
            let mut mean = vec![0.0; m];
            for a in 0..m {
                let ba = |i: usize| gram[(a, cols[i])];
                mean[a] = (0..cols.len()).map(|i| ba(i) * mu[i]).sum();
                for bb in a..m {
                    let mut v = eta * gram[(a, bb)];
                    for (i, _) in cols.iter().enumerate() {
                        let bai = ba(i);
                        if bai == 0.0 {
                            continue;
                        }
                        for (j, &cj) in cols.iter().enumerate() {
                            v += bai * cov[(i, j)] * gram[(bb, cj)];
                        }
                    }
                    c[(a, bb)] = v;
                    c[(bb, a)] = v;
                }
            }
            (pi, mean, c)
        })
        .collect()
}

/// `D(M)`: the covariance of `n (M_{k+1} - M_k)` for one step of online SGDA given `M_k =
/// state`, to leading order in `1/n`, on the flat layout of [`MacroState::pack`] (the
/// symmetric pair `S_ij`, `S_ji` carries the same noise). The three samples of a step are
/// independent, so `D` is the sum of their shares (THEORY §10):
///
/// - the real sample `y`, with `Y = X^T y` and score `x = w^T y`, moves `q` by
///   `tau f(x) U^T y`, `r` by `tau f(x) V^T y` and `z` by `2 tau f(x) x + tau^2 eta_T f(x)^2`
///   (the last term is the Ito term `(tau/n)^2 ||f(x) y||^2 n`);
/// - the discriminator's fake sample likewise with `-f~`, `eta_G`;
/// - the generator's fake sample, with latent `c~` and score `x' = c~^T r + sqrt(eta_G z) e`,
///   moves `P` by `tau~ f~(x') q c~^T`, `r` by `tau~ f~(x') z c~` and `S` by
///   `tau~ f~(x') (r c~^T + c~ r^T)`.
///
/// With `lambda = inf` the step is followed by the projections, which subtract
/// `M_ab (xi_aa + xi_bb) / 2` from the noise `xi_ab` of each overlap between normalised
/// columns `a`, `b` (`xi_aa` counted only for a normalised column), so `z` and `S_jj` carry
/// none. The regulariser's terms are not random and do not enter.
pub fn noise_covariance(model: &Model, state: &MacroState) -> Result<DMat, LnaError> {
    noise_covariance_with(model, state, NoiseForm::Full)
}

/// Which `D` [`noise_covariance_with`] computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoiseForm {
    /// The derivation's `D` (THEORY §10).
    Full,
    /// Without the Ito term `tau^2 eta f^2` in `z`'s noise: a deliberately wrong `D`, the
    /// negative control of the checks (it is what a first-order expansion of `z = w^T w`
    /// gives).
    WithoutIto,
}

/// [`noise_covariance`] in the given form.
pub fn noise_covariance_with(
    model: &Model,
    state: &MacroState,
    form: NoiseForm,
) -> Result<DMat, LnaError> {
    check_supported(model)?;
    Ok(noise_rows(model, state, form, None))
}

/// `D` on the flat layout, only the rows and columns in `keep` when given (the others
/// zero).
fn noise_rows(model: &Model, state: &MacroState, form: NoiseForm, keep: Option<&[bool]>) -> DMat {
    let ito = if form == NoiseForm::Full { 1.0 } else { 0.0 };
    let d = state.d();
    let lay = Layout { d };
    let nn = lay.len();
    let m = 2 * d + 1;
    let gram = state.gram();
    let (tau, tt) = (model.tau(), model.tau_tilde());
    let quad = if model.loss() == Loss::Quadratic {
        Quadrature::Hermite5
    } else {
        QUADRATURE
    };
    let loss = &*model.loss();
    let f = |x: f64| loss.f(x);
    let ft = |x: f64| loss.f_tilde(x);
    let ito_real = |x: f64| ito * tau * tau * model.eta_t() * loss.f(x).powi(2);
    let ito_fake = |x: f64| ito * tau * tau * model.eta_g() * loss.f_tilde(x).powi(2);
    let zero = |_: f64| 0.0;
    // The two discriminator samples: W = X^T y (m entries, the score last), Z has m + 1.
    let disc_map = |sign: f64| {
        let mut a = DMat::zeros(nn, m + 1);
        for i in 0..d {
            a[(lay.q(i), i)] = sign * tau;
            a[(lay.r(i), d + i)] = sign * tau;
        }
        a[(lay.z(), 2 * d)] = sign * 2.0 * tau;
        a[(lay.z(), m)] = 1.0;
        a
    };
    // The generator's sample: W = (c~, x'), Z has d + 2 entries.
    let mut gen_map = DMat::zeros(nn, d + 2);
    for j in 0..d {
        for i in 0..d {
            gen_map[(lay.p(i, j), j)] += tt * state.q[i];
            gen_map[(lay.s(i, j), j)] += tt * state.r[i];
            gen_map[(lay.s(i, j), i)] += tt * state.r[j];
        }
        gen_map[(lay.r(j), j)] += tt * state.z;
    }
    let gen_classes = model
        .latent_tilde()
        .components()
        .map(|(pi, mu, cov)| {
            let sr = cov.matrix().mul_vec(&state.r);
            let mut c = DMat::zeros(d + 1, d + 1);
            for a in 0..d {
                for b in 0..d {
                    c[(a, b)] = cov.matrix()[(a, b)];
                }
                c[(a, d)] = sr[a];
                c[(d, a)] = sr[a];
            }
            c[(d, d)] = dot(&state.r, &sr) + model.eta_g() * state.z;
            let mut mean = mu.to_vec();
            mean.push(dot(mu, &state.r));
            (pi, mean, c)
        })
        .collect();
    let mut blocks = [
        Block {
            classes: projected_classes(model.latent(), &gram, 0..d, model.eta_t()),
            phi: &f,
            psi: &ito_real,
            map: disc_map(1.0),
        },
        Block {
            classes: projected_classes(model.latent_tilde(), &gram, d..2 * d, model.eta_g()),
            phi: &ft,
            psi: &ito_fake,
            map: disc_map(-1.0),
        },
        Block {
            classes: gen_classes,
            phi: &ft,
            psi: &zero,
            map: gen_map,
        },
    ];
    let mut dm = DMat::zeros(nn, nn);
    for b in &mut blocks {
        let (mean, mut cov) = block_moments(b, quad);
        let k = mean.len();
        for a in 0..k {
            for c in 0..k {
                cov[(a, c)] -= mean[a] * mean[c];
            }
        }
        // The block moves the overlaps by `map Z`, then the projections act: `Pi map Z`.
        let map = &mut b.map;
        if model.lambda().is_infinite() {
            project_rows(state, map);
        }
        // dm += map cov map^T, skipping the overlaps this sample does not move and those
        // not asked for.
        let rows: Vec<usize> = (0..nn)
            .filter(|&a| keep.is_none_or(|k| k[a]) && (0..k).any(|c| map[(a, c)] != 0.0))
            .collect();
        // cov map^T, one column per kept row.
        let mut u = vec![0.0; k * rows.len()];
        for (ia, &a) in rows.iter().enumerate() {
            let row = &map.as_slice()[a * k..(a + 1) * k];
            for c in 0..k {
                u[ia * k + c] = dot(&cov.as_slice()[c * k..(c + 1) * k], row);
            }
        }
        for (ia, &a) in rows.iter().enumerate() {
            for &bb in &rows[ia..] {
                let v = dot(
                    &map.as_slice()[bb * k..(bb + 1) * k],
                    &u[ia * k..(ia + 1) * k],
                );
                dm[(a, bb)] += v;
                if bb != a {
                    dm[(bb, a)] += v;
                }
            }
        }
    }
    dm
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The projections' linear effect on one step's noise (THEORY §10), applied to the rows of
/// a map into the flat layout: the row of the overlap between normalised columns `a`, `b`
/// loses `M_ab / 2` times the rows of `a`'s and `b`'s squared norms (`S_jj`, `z`).
fn project_rows(state: &MacroState, map: &mut DMat) {
    let d = state.d();
    let lay = Layout { d };
    let k = map.cols();
    let row = |map: &DMat, a: usize| -> Vec<f64> { (0..k).map(|c| map[(a, c)]).collect() };
    let z_row = row(map, lay.z());
    let s_rows: Vec<Vec<f64>> = (0..d).map(|j| row(map, lay.s(j, j))).collect();
    let sub = |map: &mut DMat, a: usize, coef: f64, from: &[f64]| {
        for (c, x) in from.iter().enumerate() {
            map[(a, c)] -= coef * x;
        }
    };
    for i in 0..d {
        for j in 0..d {
            sub(map, lay.p(i, j), 0.5 * state.p[(i, j)], &s_rows[j]);
            sub(map, lay.s(i, j), 0.5 * state.s[(i, j)], &s_rows[i]);
            sub(map, lay.s(i, j), 0.5 * state.s[(i, j)], &s_rows[j]);
        }
        sub(map, lay.q(i), 0.5 * state.q[i], &z_row);
        sub(map, lay.r(i), 0.5 * state.r[i], &z_row);
        sub(map, lay.r(i), 0.5 * state.r[i], &s_rows[i]);
    }
    sub(map, lay.z(), state.z, &z_row);
}

/// The noise of one step of the macroscopic diffusion `dM = F dt + sqrt(D / n) dW` in the
/// chart of the model (constrained overlaps untouched, `S` kept symmetric).
pub(crate) struct StepNoise<'a> {
    model: &'a Model,
    keep: Vec<bool>,
    sel: Vec<usize>,
    embedding: DMat,
}

/// [`StepNoise`] for the model's chart.
pub(crate) fn step_noise(model: &Model, d: usize) -> StepNoise<'_> {
    let chart = Chart::for_model(model, d);
    let sel = chart.packed_indices();
    let mut keep = vec![false; MacroState::packed_len(d)];
    for &i in &sel {
        keep[i] = true;
    }
    StepNoise {
        model,
        keep,
        sel,
        embedding: chart.embedding(d),
    }
}

impl StepNoise<'_> {
    /// `scale * sqrt(D(state)) g` on the flat layout, `g` standard normal from `rng`
    /// (`scale = sqrt(dt / n)`); None when `D` is not positive semidefinite.
    pub(crate) fn kick(
        &self,
        state: &MacroState,
        rng: &mut hdgan_model::random::SimRng,
        scale: f64,
    ) -> Option<Vec<f64>> {
        let full = noise_rows(self.model, state, NoiseForm::Full, Some(&self.keep));
        let k = self.sel.len();
        let mut dk = DMat::zeros(k, k);
        for (a, &i) in self.sel.iter().enumerate() {
            for (b, &j) in self.sel.iter().enumerate() {
                dk[(a, b)] = full[(i, j)];
            }
        }
        let l = dk.psd_cholesky()?;
        let mut g = vec![0.0; k];
        rng.fill_normals(&mut g);
        let xi: Vec<f64> = l.mul_vec(&g).iter().map(|x| x * scale).collect();
        Some(self.embedding.mul_vec(&xi))
    }
}

/// The coordinates `Sigma` lives in: the reduced ones (`lambda = inf`) or all overlaps with
/// `S` symmetric (`P`, `q`, `r`, `S_ij` for `i <= j`, `z`).
#[derive(Clone, Copy)]
enum Chart {
    Reduced(ReducedCoords),
    Full(usize),
}

impl Chart {
    fn for_model(model: &Model, d: usize) -> Self {
        if model.lambda().is_infinite() {
            Chart::Reduced(ReducedCoords { d })
        } else {
            Chart::Full(d)
        }
    }

    /// The flat-layout index of each coordinate (`S_ij` with `i <= j`; its mirror `S_ji`
    /// is the same coordinate).
    fn packed_indices(self) -> Vec<usize> {
        let d = match self {
            Chart::Reduced(c) => c.d,
            Chart::Full(d) => d,
        };
        let lay = Layout { d };
        let mut v: Vec<usize> = (0..d * d).collect();
        v.extend((0..d).map(|i| lay.q(i)));
        v.extend((0..d).map(|i| lay.r(i)));
        let diag = matches!(self, Chart::Full(_));
        for i in 0..d {
            for j in i..d {
                if j > i || diag {
                    v.push(lay.s(i, j));
                }
            }
        }
        if diag {
            v.push(lay.z());
        }
        v
    }

    /// `E` (flat layout x coordinates): `X_flat = E x`, with `S_ji` copying `S_ij`.
    fn embedding(self, d: usize) -> DMat {
        let lay = Layout { d };
        let idx = self.packed_indices();
        let mut e = DMat::zeros(lay.len(), idx.len());
        for (c, &k) in idx.iter().enumerate() {
            e[(k, c)] = 1.0;
            // The mirror of an S entry.
            let base = lay.s(0, 0);
            if k >= base && k < lay.z() {
                let (i, j) = ((k - base) / d, (k - base) % d);
                e[(lay.s(j, i), c)] = 1.0;
            }
        }
        e
    }

    fn coords_of(self, flat: &[f64]) -> Vec<f64> {
        self.packed_indices().iter().map(|&k| flat[k]).collect()
    }

    /// The Jacobian of the ODE in this chart at `state`: analytic for the reduced ODE;
    /// central differences of the general right-hand side otherwise.
    fn jacobian(self, model: &Model, state: &MacroState) -> DMat {
        match self {
            Chart::Reduced(_) => reduced_jacobian(model, state),
            Chart::Full(d) => {
                let e = self.embedding(d);
                let x0 = self.coords_of(&state.pack());
                let k = x0.len();
                let rhs = |x: &[f64]| {
                    let flat = e.mul_vec(x);
                    let ds = general_rhs(model, &MacroState::unpack(d, &flat), HForm::Corrected);
                    self.coords_of(&ds.pack())
                };
                let mut jm = DMat::zeros(k, k);
                let mut x = x0.clone();
                for b in 0..k {
                    let h = 1e-6 * (1.0 + x0[b].abs());
                    x[b] = x0[b] + h;
                    let up = rhs(&x);
                    x[b] = x0[b] - h;
                    let down = rhs(&x);
                    x[b] = x0[b];
                    for a in 0..k {
                        jm[(a, b)] = (up[a] - down[a]) / (2.0 * h);
                    }
                }
                jm
            }
        }
    }
}

/// The ODE's path with the covariance of the fluctuations along it.
#[derive(Clone, Debug, PartialEq)]
pub struct Fluctuations {
    /// The ODE's path at the output times.
    pub mean: Trajectory,
    /// `Sigma(t)` on the flat layout of [`MacroState::pack`] (rows and columns named by
    /// [`MacroState::column_names`]): the covariance of `sqrt(n) (M_k - M(k/n))`, the same for
    /// every `n` to leading order. Constrained entries (`z`, `S_jj` with `lambda = inf`)
    /// have none.
    pub cov: Vec<DMat>,
}

impl Fluctuations {
    /// The standard deviation of every overlap at size `n`: `sqrt(Sigma_ii(t) / n)`, one row
    /// per output time.
    pub fn sd(&self, n: usize) -> Vec<Vec<f64>> {
        self.cov
            .iter()
            .map(|c| {
                c.diag()
                    .iter()
                    .map(|v| (v.max(0.0) / n as f64).sqrt())
                    .collect()
            })
            .collect()
    }

    /// The standard deviation at size `n` of a smooth function of the overlaps, by its
    /// gradient on the flat layout (the delta method): `sqrt(g^T Sigma g / n)` per time.
    pub fn sd_of(&self, n: usize, grad: impl Fn(&MacroState) -> Vec<f64>) -> Vec<f64> {
        self.mean
            .states
            .iter()
            .zip(&self.cov)
            .map(|(s, c)| (c.quad_form(&grad(s)).max(0.0) / n as f64).sqrt())
            .collect()
    }
}

/// The tolerances [`fluctuations`] is meant to run with: `rtol = 1e-6`, `atol = 1e-8`.
/// `Sigma` enters bands and variances, where six digits are more than enough; on Figure 1
/// it agrees with a `1e-9` solve to 1e-6 relative (a unit test) at a third of the cost.
pub const LNA_OPTIONS: OdeOptions = OdeOptions {
    rtol: 1e-6,
    atol: 1e-8,
    max_steps: 50_000_000,
    blowup: 1e6,
};

/// Integrates the ODE from `init` together with `Sigma` (from `Sigma(0) = 0`: the runs start
/// at the given overlaps exactly) and returns both at every time in `times`.
pub fn fluctuations(
    model: &Model,
    init: &MacroState,
    times: &[f64],
    opts: &OdeOptions,
) -> Result<Fluctuations, LnaError> {
    fluctuations_with(model, init, times, opts, NoiseForm::Full)
}

/// [`fluctuations`] with the step noise of the given form (the wrong one is the checks'
/// negative control).
pub fn fluctuations_with(
    model: &Model,
    init: &MacroState,
    times: &[f64],
    opts: &OdeOptions,
    form: NoiseForm,
) -> Result<Fluctuations, LnaError> {
    check_supported(model)?;
    let d = init.d();
    let nn = MacroState::packed_len(d);
    let chart = Chart::for_model(model, d);
    let e = chart.embedding(d);
    let sel = chart.packed_indices();
    let k = sel.len();
    let drift = packed_rhs(model, OdeKind::for_model(model), d);
    let mut keep = vec![false; nn];
    for &i in &sel {
        keep[i] = true;
    }
    // Sigma is symmetric: the solve carries its upper triangle (row-major), `tri` entries.
    let tri = k * (k + 1) / 2;
    let upper: Vec<(usize, usize)> = (0..k).flat_map(|a| (a..k).map(move |b| (a, b))).collect();
    let scratch = std::cell::RefCell::new((vec![0.0; k * k], vec![0.0; k * k]));
    let f = |y: &[f64], dy: &mut [f64]| {
        let (m, sigma) = y.split_at(nn);
        let (dm, dsigma) = dy.split_at_mut(nn);
        drift(m, dm);
        let state = MacroState::unpack(d, m);
        let jm = chart.jacobian(model, &state);
        let noise = noise_rows(model, &state, form, Some(&keep));
        let mut guard = scratch.borrow_mut();
        let (full, js) = &mut *guard;
        for (v, &(a, b)) in sigma.iter().zip(&upper) {
            full[a * k + b] = *v;
            full[b * k + a] = *v;
        }
        for a in 0..k {
            let ja = &jm.as_slice()[a * k..(a + 1) * k];
            for b in 0..k {
                js[a * k + b] = (0..k).map(|c| ja[c] * full[c * k + b]).sum();
            }
        }
        for (out, &(a, b)) in dsigma.iter_mut().zip(&upper) {
            *out = js[a * k + b] + js[b * k + a] + noise[(sel[a], sel[b])];
        }
    };
    let mut names = MacroState::column_names(d);
    let coord_names: Vec<String> = sel.iter().map(|&i| names[i].clone()).collect();
    for &(a, b) in &upper {
        names.push(format!("Sigma[{},{}]", coord_names[a], coord_names[b]));
    }
    let mut y0 = init.pack();
    y0.resize(nn + tri, 0.0);
    // Sigma grows like exp(2 kappa t) near a saddle: only the overlaps count as divergence.
    let wide = OdeOptions {
        blowup: f64::MAX,
        ..*opts
    };
    let flat = integrate(&f, &names, &y0, times, &wide)?;
    let mut mean = Trajectory::new();
    let mut cov = Vec::with_capacity(times.len());
    for (t, y) in times.iter().zip(&flat) {
        let (m, sigma) = y.split_at(nn);
        if let Some(i) = m
            .iter()
            .position(|v| !v.is_finite() || v.abs() > opts.blowup)
        {
            return Err(OdeError::Diverged {
                t: *t,
                quantity: names[i].clone(),
                value: m[i],
            }
            .into());
        }
        mean.push(*t, MacroState::unpack(d, m));
        let mut full = DMat::zeros(k, k);
        for (v, &(a, b)) in sigma.iter().zip(&upper) {
            full[(a, b)] = *v;
            full[(b, a)] = *v;
        }
        cov.push(e.matmul(&full).matmul(&e.transpose()));
    }
    mean.states[0] = init.clone();
    Ok(Fluctuations { mean, cov })
}

/// When a path's discriminator switches from feature 1 to feature 2 (Figure 1's second
/// stage): the first time, after `|q_1|` exceeded 0.5, at which `|q_2| > |q_1|`, linearly
/// interpolated between the recorded times; None if it never does.
pub fn switch_time(path: &Trajectory) -> Option<f64> {
    let start = path
        .states
        .iter()
        .position(|s| s.q.len() > 1 && s.q[0].abs() > 0.5)?;
    let gap = |s: &MacroState| s.q[1].abs() - s.q[0].abs();
    let k = (start + 1..path.states.len()).find(|&k| gap(&path.states[k]) > 0.0)?;
    let (g0, g1) = (gap(&path.states[k - 1]), gap(&path.states[k]));
    let (t0, t1) = (path.times[k - 1], path.times[k]);
    Some(t0 + (t1 - t0) * (-g0) / (g1 - g0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdgan_model::ModelConfig;

    fn fig1() -> (Model, MacroState) {
        let m = ModelConfig::figure1(1000, 2.0).validate("model").unwrap();
        let mut s = MacroState::diagonal_start(2, 0.1, 0.1);
        s.r = vec![0.01, 0.01];
        (m, s)
    }

    #[test]
    fn lna_options_agree_with_a_tight_solve() {
        let (m, s) = fig1();
        let times: Vec<f64> = (0..=40).map(f64::from).collect();
        let tight = OdeOptions {
            rtol: 1e-10,
            atol: 1e-12,
            ..OdeOptions::default()
        };
        let a = fluctuations(&m, &s, &times, &LNA_OPTIONS).unwrap();
        let b = fluctuations(&m, &s, &times, &tight).unwrap();
        for (x, y) in a.cov.iter().zip(&b.cov) {
            let scale = 1.0 + y.max_abs();
            assert!(
                x.max_abs_diff(y) <= 1e-5 * scale,
                "{}",
                x.max_abs_diff(y) / scale
            );
        }
    }

    #[test]
    fn sigma_is_symmetric_psd_and_zero_on_the_constraint() {
        let (m, s) = fig1();
        let times: Vec<f64> = (0..=30).map(f64::from).collect();
        let fl = fluctuations(&m, &s, &times, &LNA_OPTIONS).unwrap();
        let lay = Layout { d: 2 };
        for c in &fl.cov[1..] {
            assert!(c.max_abs_diff(&c.transpose()) <= 1e-12 * (1.0 + c.max_abs()));
            for fixed in [lay.z(), lay.s(0, 0), lay.s(1, 1)] {
                assert!(c[(fixed, fixed)].abs() == 0.0, "{fixed}");
            }
            // S_12 and S_21 are one coordinate.
            assert!(
                c[(lay.s(0, 1), lay.s(0, 1))].to_bits() == c[(lay.s(1, 0), lay.s(0, 1))].to_bits()
            );
            let psd = hdgan_core::SymPsd::new("sigma", c.clone());
            assert!(psd.is_ok(), "{psd:?}");
        }
    }

    #[test]
    fn finite_lambda_sigma_covers_every_overlap() {
        // d = 1, finite lambda: the chart has all overlaps and J comes from differences;
        // Sigma must stay symmetric and its z entry must be positive (z is free).
        let mut c = ModelConfig::figure1(1000, 2.0);
        c.d = 1;
        c.latent = hdgan_model::LatentConfig::diagonal(&[5.0]);
        c.lambda = hdgan_model::LambdaValue::Number(2.0);
        let m = c.validate("model").unwrap();
        let s = MacroState::diagonal_start(1, 0.3, 0.3);
        let times: Vec<f64> = (0..=10).map(f64::from).collect();
        let fl = fluctuations(&m, &s, &times, &LNA_OPTIONS).unwrap();
        let lay = Layout { d: 1 };
        let last = fl.cov.last().unwrap();
        assert!(last[(lay.z(), lay.z())] > 0.0);
        assert!(last[(lay.s(0, 0), lay.s(0, 0))] > 0.0);
    }

    #[test]
    fn switch_time_interpolates() {
        let mut t = Trajectory::new();
        for (k, (q1, q2)) in [(0.2, 0.0), (0.6, 0.1), (0.5, 0.3), (0.3, 0.5)]
            .iter()
            .enumerate()
        {
            let mut s = MacroState::zeros(2);
            s.q = vec![*q1, *q2];
            t.push(k as f64, s);
        }
        // gap -0.2 at t = 2, +0.2 at t = 3: crossing at 2.5.
        assert!((switch_time(&t).unwrap() - 2.5).abs() < 1e-12);
    }
}
