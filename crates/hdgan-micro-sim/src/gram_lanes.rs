//! Ensembles of the Gram engine stepped [`LANES`] members at a time (THEORY §7).
//!
//! A Gram step is a few hundred flops in short dependent chains (dot products of length
//! m + 1, square roots, divisions), so one member at a time leaves the core waiting on
//! latencies. Here [`LANES`] members step together: each draws its own random numbers from
//! its own stream, in [`GramEngine::step`]'s order, and the arithmetic (in-frame samples,
//! the extended matrix, Householder QR, rescaling, divergence check) runs lane by lane with
//! exactly the scalar step's operations in the same order, no fused multiply-adds. Every
//! member's path is therefore bit for bit the scalar engine's (tests), whatever the lane it
//! runs in; the lane loops are compiled for AVX2 where the CPU has it.

use crate::gram::{GramEngine, GramVariant};
use crate::{Engine, SimError};
use hdgan_core::Lambda;
use hdgan_model::random::SimRng;
use hdgan_model::{Model, Regularizer};
use rand::RngExt;

/// Members stepped together.
pub const LANES: usize = 4;

type V = [f64; LANES];

/// The neutral element `Iterator::sum` starts from for f64 (the scalar engine's dot
/// products are such sums; starting from the same value keeps the sign of zero).
fn sum_start() -> f64 {
    std::iter::empty::<f64>().sum()
}

/// Per-step lane buffers, structure of arrays: entry `[k][l]` belongs to member l.
struct Lanes {
    d: usize,
    m: usize,
    /// R, column-major m x m.
    r: Vec<V>,
    /// The extended (m + 1) x m matrix.
    ext: Vec<V>,
    house: Vec<V>,
    c: Vec<V>,
    c0: Vec<V>,
    c1: Vec<V>,
    alpha: Vec<V>,
    beta: Vec<V>,
    yin: Vec<V>,
    y0in: Vec<V>,
    rv: Vec<V>,
    reg_v: Vec<V>,
    rw: Vec<V>,
    /// One member's raw draws (length m).
    draws: Vec<f64>,
    gamma: V,
    chi: V,
}

impl Lanes {
    fn new(d: usize) -> Self {
        let m = 2 * d + 1;
        let z = [0.0; LANES];
        Self {
            d,
            m,
            r: vec![z; m * m],
            ext: vec![z; (m + 1) * m],
            house: vec![z; m + 1],
            c: vec![z; d],
            c0: vec![z; d],
            c1: vec![z; d],
            alpha: vec![z; m],
            beta: vec![z; m],
            yin: vec![z; m],
            y0in: vec![z; m],
            rv: vec![z; d],
            reg_v: vec![z; d],
            rw: vec![z; m],
            draws: vec![0.0; m],
            gamma: z,
            chi: z,
        }
    }
}

/// `LANES` Gram engines (one model, one variant) stepped together; each keeps its own
/// random stream.
///
/// Between steps the factors live in the batch (lane-interleaved); the engines are written
/// back by [`GramLanes::sync`] (and by [`GramLanes::into_engines`], and before a divergence
/// error is returned).
pub struct GramLanes {
    engines: Vec<GramEngine>,
    lanes: Lanes,
    avx2: bool,
    /// Each member's divergence bound.
    blowup: V,
    /// Steps taken since the engines were last written back.
    pending: u64,
}

impl GramLanes {
    /// Steps `engines` (exactly [`LANES`] of them, built for the same model and variant)
    /// together.
    ///
    /// # Panics
    /// If there are not [`LANES`] engines or their dimensions differ (programming errors).
    pub fn new(engines: Vec<GramEngine>) -> Self {
        assert_eq!(engines.len(), LANES, "GramLanes: {LANES} engines");
        let d = engines[0].d();
        assert!(
            engines
                .iter()
                .all(|e| e.d() == d && e.n() == engines[0].n())
        );
        let mut lanes = Lanes::new(d);
        for (l, e) in engines.iter().enumerate() {
            for (k, x) in e.factor().iter().enumerate() {
                lanes.r[k][l] = *x;
            }
        }
        Self {
            blowup: std::array::from_fn(|l| engines[l].blowup()),
            engines,
            lanes,
            avx2: avx2(),
            pending: 0,
        }
    }

    /// Steps taken by every member (they all start from the same count in
    /// [`crate::gram_ensemble`]; in general, member 0's count).
    pub fn steps_done(&self) -> u64 {
        self.engines[0].steps_done() + self.pending
    }

    /// Writes the members' current states back into the engines and returns them (member
    /// order).
    pub fn sync(&mut self) -> &[GramEngine] {
        if self.pending > 0 {
            for (l, e) in self.engines.iter_mut().enumerate() {
                for (k, x) in e.factor_mut().iter_mut().enumerate() {
                    *x = self.lanes.r[k][l];
                }
                e.add_steps(self.pending);
            }
            self.pending = 0;
        }
        &self.engines
    }

    /// Gives the engines back, up to date.
    pub fn into_engines(mut self) -> Vec<GramEngine> {
        self.sync();
        self.engines
    }

    /// One step of every member, `rngs[l]` being member l's stream. On divergence the
    /// first diverged member's error (member order) is returned with its index; every
    /// member has still taken the step, and the engines are up to date.
    pub fn step(&mut self, rngs: &mut [SimRng]) -> Result<(), (usize, SimError)> {
        assert_eq!(rngs.len(), LANES);
        let Self {
            engines,
            lanes,
            avx2,
            blowup,
            ..
        } = self;
        for (l, (e, rng)) in engines.iter().zip(rngs.iter_mut()).enumerate() {
            draw(e, rng, lanes, l);
        }
        let model = engines[0].model();
        let losses = |x: &V, tilde: bool| -> V {
            std::array::from_fn(|l| {
                if tilde {
                    model.loss.f_tilde(x[l])
                } else {
                    model.loss.f(x[l])
                }
            })
        };
        #[cfg(target_arch = "x86_64")]
        let ok = if *avx2 {
            // SAFETY: the CPU supports AVX2 (checked when the batch was built).
            #[allow(unsafe_code)]
            unsafe {
                arithmetic_avx2(model, lanes, &losses, blowup)
            }
        } else {
            arithmetic(model, lanes, &losses, blowup)
        };
        #[cfg(not(target_arch = "x86_64"))]
        let ok = arithmetic(model, lanes, &losses, blowup);
        self.pending += 1;
        if ok {
            return Ok(());
        }
        // Some member diverged: the engines report it with their own scalar check (the
        // same sums as the lane check).
        self.sync();
        for (l, e) in self.engines.iter().enumerate() {
            e.check().map_err(|err| (l, err))?;
        }
        Ok(())
    }
}

fn avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Member l's random draws, in the scalar step's order: the three latents, alpha, beta,
/// gamma, then the chi variable of the out-of-span noise.
fn draw(e: &GramEngine, rng: &mut SimRng, s: &mut Lanes, l: usize) {
    let (d, m) = (s.d, s.m);
    let model = e.model();
    // One member's draws (m >= d entries), kept in the batch so that any d works without
    // allocating.
    let mut buf = std::mem::take(&mut s.draws);
    let fill = |src: &[f64], dst: &mut [V]| {
        for (x, y) in src.iter().zip(dst.iter_mut()) {
            y[l] = *x;
        }
    };
    model.latent.sample(rng, &mut buf[..d]);
    fill(&buf[..d], &mut s.c);
    model.latent_tilde.sample(rng, &mut buf[..d]);
    fill(&buf[..d], &mut s.c0);
    model.latent_tilde.sample(rng, &mut buf[..d]);
    fill(&buf[..d], &mut s.c1);
    rng.fill_normals(&mut buf[..m]);
    fill(&buf[..m], &mut s.alpha);
    rng.fill_normals(&mut buf[..m]);
    fill(&buf[..m], &mut s.beta);
    s.draws = buf;
    s.gamma[l] = rng.normal();
    s.chi[l] = match (e.chi2(), e.variant()) {
        (_, GramVariant::NoPerpendicularNoise) | (None, _) => 0.0,
        (Some(dist), _) => rng.sample(dist).sqrt(),
    };
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn arithmetic_avx2<F: Fn(&V, bool) -> V>(
    model: &Model,
    s: &mut Lanes,
    losses: &F,
    blowup: &V,
) -> bool {
    arithmetic(model, s, losses, blowup)
}

/// `if keep[l] { new[l] } else { old[l] }` without branches (bit select, so the lane loops
/// vectorise).
#[inline(always)]
fn select(keep: &[u64; LANES], new: &V, old: &V) -> V {
    std::array::from_fn(|l| {
        f64::from_bits((new[l].to_bits() & keep[l]) | (old[l].to_bits() & !keep[l]))
    })
}

/// All-ones where `c` holds, else zero.
#[inline(always)]
fn mask(c: [bool; LANES]) -> [u64; LANES] {
    std::array::from_fn(|l| if c[l] { u64::MAX } else { 0 })
}

/// `acc + a * b` lane by lane (a product then a sum, as the scalar code rounds it).
#[inline(always)]
fn mul_add(acc: &mut V, a: &V, b: &V) {
    for l in 0..LANES {
        acc[l] += a[l] * b[l];
    }
}

/// Lane-wise dot product of two columns, summed in order from [`sum_start`].
#[inline(always)]
fn dot(a: &[V], b: &[V]) -> V {
    let mut acc = [sum_start(); LANES];
    for (x, y) in a.iter().zip(b) {
        mul_add(&mut acc, x, y);
    }
    acc
}

/// The deterministic part of [`GramEngine::step`], lane by lane; false when a member's
/// `z` or an `S_jj` is not finite or above its bound (the scalar engine's divergence check).
#[inline(always)]
fn arithmetic<F: Fn(&V, bool) -> V>(model: &Model, s: &mut Lanes, losses: &F, blowup: &V) -> bool {
    // The common feature counts get their own copies with constant loop bounds (unrolled,
    // without bounds checks); the arithmetic is the same.
    match s.d {
        1 => arithmetic_d(1, model, s, losses, blowup),
        2 => arithmetic_d(2, model, s, losses, blowup),
        3 => arithmetic_d(3, model, s, losses, blowup),
        4 => arithmetic_d(4, model, s, losses, blowup),
        d => arithmetic_d(d, model, s, losses, blowup),
    }
}

#[inline(always)]
fn arithmetic_d<F: Fn(&V, bool) -> V>(
    d: usize,
    model: &Model,
    s: &mut Lanes,
    losses: &F,
    blowup: &V,
) -> bool {
    let m = 2 * d + 1;
    let ld = m + 1;
    // The buffers as local slices: their pointers stay in registers (through the struct
    // they would be reloaded after every store).
    let Lanes {
        r,
        ext,
        house,
        c,
        c0,
        c1,
        alpha,
        beta,
        yin,
        y0in,
        rv,
        reg_v,
        rw,
        gamma,
        chi,
        ..
    } = s;
    let (r, ext, house, rw) = (
        &mut r[..m * m],
        &mut ext[..ld * m],
        &mut house[..ld],
        &mut rw[..m],
    );
    let (alpha, beta, yin, y0in) = (&alpha[..m], &beta[..m], &mut yin[..m], &mut y0in[..m]);
    let (c, c0, c1, rv, reg_v) = (&c[..d], &c0[..d], &c1[..d], &mut rv[..d], &mut reg_v[..d]);
    let nf = model.n as f64;
    let (a, at) = (model.tau / nf, model.tau_tilde / nf);
    let (st, sg) = (model.eta_t.sqrt(), model.eta_g.sqrt());
    rw.copy_from_slice(&r[2 * d * m..(2 * d + 1) * m]);
    for i in 0..m {
        for l in 0..LANES {
            yin[i][l] = st * alpha[i][l];
            y0in[i][l] = sg * beta[i][l];
        }
    }
    for j in 0..d {
        for i in 0..m {
            for l in 0..LANES {
                yin[i][l] += c[j][l] * r[j * m + i][l];
            }
        }
        for i in 0..m {
            for l in 0..LANES {
                y0in[i][l] += c0[j][l] * r[(d + j) * m + i][l];
            }
        }
    }
    let z = dot(rw, rw);
    for j in 0..d {
        rv[j] = dot(&r[(d + j) * m..(d + j + 1) * m], rw);
    }
    let f = losses(&dot(&yin, rw), false);
    let f0 = losses(&dot(&y0in, rw), true);
    let c1rv = dot(&c1, &rv);
    let arg1: V = std::array::from_fn(|l| c1rv[l] + sg * z[l].sqrt() * gamma[l]);
    let f1 = losses(&arg1, true);
    let reg_w: V = match model.lambda {
        Lambda::Finite(lam) => {
            let h = model.regularizer();
            for j in 0..d {
                let vv = dot(
                    &r[(d + j) * m..(d + j + 1) * m],
                    &r[(d + j) * m..(d + j + 1) * m],
                );
                for l in 0..LANES {
                    reg_v[j][l] = lam * h.h_prime(vv[l]);
                }
            }
            std::array::from_fn(|l| lam * h.h_prime(z[l]))
        }
        Lambda::Infinite => {
            for r in reg_v.iter_mut() {
                *r = [0.0; LANES];
            }
            [0.0; LANES]
        }
    };
    let s_perp: V =
        std::array::from_fn(|l| (model.eta_t * f[l] * f[l] + model.eta_g * f0[l] * f0[l]).sqrt());
    for x in ext.iter_mut() {
        *x = [0.0; LANES];
    }
    for j in 0..d {
        for i in 0..m {
            ext[j * ld + i] = r[j * m + i];
        }
        for l in 0..LANES {
            let (kv, kw) = (1.0 - at * reg_v[j][l], at * f1[l] * c1[j][l]);
            for i in 0..m {
                ext[(d + j) * ld + i][l] = kv * r[(d + j) * m + i][l] + kw * rw[i][l];
            }
        }
    }
    for i in 0..m {
        for l in 0..LANES {
            ext[2 * d * ld + i][l] =
                rw[i][l] + a * (f[l] * yin[i][l] - f0[l] * y0in[i][l] - reg_w[l] * rw[i][l]);
        }
    }
    for l in 0..LANES {
        ext[2 * d * ld + m][l] = a * s_perp[l] * chi[l];
    }
    qr_lanes(ext, m, d, house, r);
    if model.lambda.is_infinite() {
        for k in d..m {
            let col = &mut r[k * m..(k + 1) * m];
            let nn = dot(col, col);
            let mut norm = [0.0; LANES];
            for l in 0..LANES {
                norm[l] = nn[l].sqrt();
            }
            let keep = mask(std::array::from_fn(|l| norm[l] > 0.0));
            for x in col.iter_mut() {
                let mut q = [0.0; LANES];
                for l in 0..LANES {
                    q[l] = x[l] / norm[l];
                }
                *x = select(&keep, &q, x);
            }
        }
    }
    let mut ok = [true; LANES];
    for k in d..m {
        let col = &r[k * m..(k + 1) * m];
        let nn = dot(col, col);
        for l in 0..LANES {
            ok[l] &= nn[l].is_finite() && nn[l] <= blowup[l];
        }
    }
    ok.iter().all(|&x| x)
}

/// The scalar engine's Householder QR (`qr_upper_into`), lane by lane: a lane whose
/// column norm or reflector norm is zero skips that column as the scalar code does.
#[inline(always)]
fn qr_lanes(a: &mut [V], m: usize, done: usize, v: &mut [V], r: &mut [V]) {
    let ld = m + 1;
    for k in done..m {
        let mut nsq = [sum_start(); LANES];
        for i in k..ld {
            mul_add(&mut nsq, &a[k * ld + i], &a[k * ld + i]);
        }
        let mut norm = [0.0; LANES];
        let mut neg = [0.0; LANES];
        for l in 0..LANES {
            norm[l] = nsq[l].sqrt();
            neg[l] = -norm[l];
        }
        let alpha = select(
            &mask(std::array::from_fn(|l| a[k * ld + k][l] > 0.0)),
            &neg,
            &norm,
        );
        let v = &mut v[..ld - k];
        for (vi, i) in v.iter_mut().zip(k..ld) {
            *vi = a[k * ld + i];
        }
        for l in 0..LANES {
            v[0][l] -= alpha[l];
        }
        let vv = dot(v, v);
        let active = mask(std::array::from_fn(|l| norm[l] != 0.0 && vv[l] != 0.0));
        for j in k..m {
            let c = &mut a[j * ld..(j + 1) * ld];
            let mut acc = [sum_start(); LANES];
            for i in k..ld {
                mul_add(&mut acc, &v[i - k], &c[i]);
            }
            let mut sj = [0.0; LANES];
            for l in 0..LANES {
                sj[l] = 2.0 * acc[l] / vv[l];
            }
            for i in k..ld {
                let mut new = [0.0; LANES];
                for l in 0..LANES {
                    new[l] = c[i][l] - sj[l] * v[i - k][l];
                }
                c[i] = select(&active, &new, &c[i]);
            }
        }
    }
    for x in r.iter_mut() {
        *x = [0.0; LANES];
    }
    for j in 0..m {
        for i in 0..=j {
            r[j * m + i] = a[j * ld + i];
        }
    }
    for i in 0..m {
        let flip = mask(std::array::from_fn(|l| r[i * m + i][l] < 0.0));
        for j in i..m {
            let x = r[j * m + i];
            let mut negx = [0.0; LANES];
            for l in 0..LANES {
                negx[l] = -x[l];
            }
            r[j * m + i] = select(&flip, &negx, &x);
        }
    }
}

/// Runs [`LANES`] members (`engines`, streams `rngs`) along `schedule` together, recording
/// each as [`crate::run`] would; used by [`crate::gram_ensemble`].
pub(crate) fn run_lanes(
    engines: Vec<GramEngine>,
    rngs: &mut [SimRng],
    schedule: &crate::Schedule,
    control: crate::RunControl<'_>,
) -> Result<Vec<hdgan_core::Trajectory>, SimError> {
    use std::sync::atomic::Ordering;
    let nf = engines[0].n() as f64;
    let mut batch = GramLanes::new(engines);
    let mut out: Vec<hdgan_core::Trajectory> = vec![hdgan_core::Trajectory::new(); LANES];
    let start = batch.steps_done();
    const CHUNK: u64 = 4096;
    for &k in &schedule.record_steps() {
        while batch.steps_done() - start < k {
            let todo = (k - (batch.steps_done() - start)).min(CHUNK);
            for _ in 0..todo {
                batch.step(rngs).map_err(|(_, e)| e)?;
            }
            if let Some(p) = control.progress {
                p(todo * LANES as u64);
            }
        }
        if let Some(c) = control.cancel
            && c.load(Ordering::Relaxed)
        {
            return Err(SimError::Cancelled { t: k as f64 / nf });
        }
        for (t, e) in out.iter_mut().zip(batch.sync()) {
            t.push(k as f64 / nf, e.macro_state());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Schedule;
    use hdgan_core::MacroState;
    use hdgan_model::random::stream_rng;
    use hdgan_model::{LambdaValue, LatentConfig, ModelConfig};

    /// `gram_ensemble` (groups of four, a last group of two one by one) gives
    /// `run_ensemble`'s scalar paths bit for bit, on any thread count.
    #[test]
    fn gram_ensemble_equals_the_scalar_ensemble() {
        let model = ModelConfig::figure1(500, 2.0).validate("model").unwrap();
        let start = MacroState::diagonal_start(2, 0.1, 0.1);
        let schedule = Schedule::from_times(model.n, 4.0, 2.0).unwrap();
        let scalar = crate::run_ensemble(
            6,
            9,
            |_, _| {
                Ok(GramEngine::from_macro(
                    &model,
                    &start,
                    crate::DEFAULT_BLOWUP,
                ))
            },
            &schedule,
            Default::default(),
        )
        .unwrap();
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let got = pool
                .install(|| {
                    crate::gram_ensemble(&model, &start, GramVariant::Exact, 6, 9, &schedule)
                })
                .unwrap();
            assert_eq!(got, scalar, "{threads} threads");
        }
    }

    /// Four members stepped together give each member's scalar path bit for bit: lambda =
    /// inf and finite, d = 1, 2 and 17, the exact engine and both controls, a logistic loss, a
    /// correlated generator latent.
    #[test]
    fn lanes_equal_the_scalar_engine_bit_for_bit() {
        let mut cases = Vec::new();
        for (d, lambda, loss) in [
            (2, LambdaValue::default(), hdgan_model::LossName::Quadratic),
            (
                1,
                LambdaValue::Number(2.0),
                hdgan_model::LossName::Quadratic,
            ),
            (2, LambdaValue::Number(3.0), hdgan_model::LossName::Logistic),
            // More features than any fixed-size buffer would hold.
            (17, LambdaValue::default(), hdgan_model::LossName::Quadratic),
        ] {
            let mut c = ModelConfig::figure1(300, 2.0);
            c.d = d;
            c.lambda = lambda;
            c.loss = loss;
            let lam: Vec<f64> = (0..d).map(|k| 5.0 - 0.2 * k as f64).collect();
            c.latent = LatentConfig::diagonal(&lam);
            if d == 2 {
                c.latent_tilde = Some(LatentConfig {
                    cov: vec![vec![2.0, 0.4], vec![0.4, 1.0]],
                    mean: None,
                    classes: Vec::new(),
                    from_data: None,
                });
            }
            cases.push(c.validate("model").unwrap());
        }
        for (ci, model) in cases.iter().enumerate() {
            for variant in [
                GramVariant::Exact,
                GramVariant::WrongChiDof,
                GramVariant::NoPerpendicularNoise,
            ] {
                let start = MacroState::diagonal_start(model.d, 0.1, 0.1);
                let build = || {
                    GramEngine::from_macro(model, &start, crate::DEFAULT_BLOWUP)
                        .with_variant(variant)
                };
                // The d = 17 case only needs to run (a short horizon keeps the test fast).
                let t_end = if model.d > 2 { 0.5 } else { 5.0 };
                let schedule = Schedule::from_times(model.n, t_end, t_end / 5.0).unwrap();
                let mut rngs: Vec<SimRng> = (0..LANES)
                    .map(|i| stream_rng(40 + ci as u64, i as u64))
                    .collect();
                let lanes = run_lanes(
                    (0..LANES).map(|_| build()).collect(),
                    &mut rngs,
                    &schedule,
                    crate::RunControl::default(),
                )
                .unwrap();
                for (i, got) in lanes.iter().enumerate() {
                    let mut rng = stream_rng(40 + ci as u64, i as u64);
                    let want =
                        crate::run(&mut build(), &mut rng, &schedule, Default::default()).unwrap();
                    let bits = |t: &hdgan_core::Trajectory| {
                        t.states
                            .iter()
                            .flat_map(|s| s.pack())
                            .map(f64::to_bits)
                            .collect::<Vec<_>>()
                    };
                    assert_eq!(bits(got), bits(&want), "case {ci}, {variant:?}, member {i}");
                    assert_eq!(rngs[i], rng, "stream of member {i}");
                }
            }
        }
    }
}
