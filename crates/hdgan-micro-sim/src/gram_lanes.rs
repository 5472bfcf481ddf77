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

use crate::gram::{GramEngine, StepDraws};
use crate::{Engine, SimError};
use hdgan_core::Lambda;
use hdgan_model::random::SimRng;
use hdgan_model::{Loss, Model, Regularizer};

pub use crate::registry::LANES;

type V = [f64; LANES];

/// The neutral element `Iterator::sum` starts from for f64 (the scalar engine's dot
/// products are such sums; starting from the same value keeps the sign of zero).
fn sum_start() -> f64 {
    std::iter::empty::<f64>().sum()
}

/// Per-step lane buffers, structure of arrays: entry `[k][l]` belongs to member l.
struct Lanes {
    d: usize,
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
    /// One member's draws (reused member after member).
    draws: StepDraws,
    gamma: V,
    chi: V,
}

impl Lanes {
    fn new(d: usize) -> Self {
        let m = 2 * d + 1;
        let z = [0.0; LANES];
        Self {
            d,
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
            draws: StepDraws::new(d),
            gamma: z,
            chi: z,
        }
    }
}

/// `LANES` Gram engines (one model, one variant) stepped together; each keeps its own
/// random stream.
///
/// Between steps the factors live in the batch (lane-interleaved); the engines are written
/// back by [`GramLanes::sync`], when the batch is dropped, and before a divergence error is
/// returned.
pub struct GramLanes<'a> {
    engines: Vec<&'a mut GramEngine>,
    lanes: Lanes,
    /// The proof that the CPU has AVX2, where it has (the lanes then run in AVX2
    /// registers).
    #[cfg(target_arch = "x86_64")]
    avx2: Option<avx::Avx2>,
    /// Each member's divergence bound.
    blowup: V,
    /// Steps taken since the engines were last written back.
    pending: u64,
}

impl<'a> GramLanes<'a> {
    /// Steps `engines` (exactly [`LANES`] of them, built for the same model and variant)
    /// together.
    ///
    /// # Panics
    /// If there are not [`LANES`] engines or their dimensions differ (programming errors).
    pub fn new(engines: Vec<&'a mut GramEngine>) -> Self {
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
            #[cfg(target_arch = "x86_64")]
            avx2: avx::Avx2::detect(),
            pending: 0,
        }
    }

    /// Steps taken by member 0 (every member of a batch is at the same step in the run
    /// loop).
    pub fn steps_done(&self) -> u64 {
        self.engines[0].steps_done() + self.pending
    }

    /// Writes the members' current states back into the engines.
    pub fn sync(&mut self) {
        if self.pending > 0 {
            for (l, e) in self.engines.iter_mut().enumerate() {
                for (k, x) in e.factor_mut().iter_mut().enumerate() {
                    *x = self.lanes.r[k][l];
                }
                e.add_steps(self.pending);
            }
            self.pending = 0;
        }
    }

    /// One step of every member, `rngs[l]` being member l's stream. On divergence the
    /// first diverged member's error (member order) is returned with its index; every
    /// member has still taken the step, and the engines are up to date.
    pub fn step(&mut self, rngs: &mut [SimRng]) -> Result<(), (usize, SimError)> {
        assert_eq!(rngs.len(), LANES);
        let Self {
            engines,
            lanes,
            blowup,
            ..
        } = self;
        for (l, (e, rng)) in engines.iter().zip(rngs.iter_mut()).enumerate() {
            draw(e, rng, lanes, l);
        }
        let model = engines[0].model();
        #[cfg(target_arch = "x86_64")]
        let ok = match self.avx2 {
            Some(cpu) => avx::arithmetic(cpu, model, lanes, blowup),
            None => arithmetic::<Portable>((), model, lanes, blowup),
        };
        #[cfg(not(target_arch = "x86_64"))]
        let ok = arithmetic::<Portable>((), model, lanes, blowup);
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

impl Drop for GramLanes<'_> {
    fn drop(&mut self) {
        self.sync();
    }
}

/// The run loop's view of the Gram engine: one member's step is
/// [`GramEngine::step`]; [`LANES`] members step together in a [`GramLanes`] batch with the
/// same bits.
impl Engine for GramEngine {
    type State = hdgan_core::MacroState;

    fn n(&self) -> usize {
        GramEngine::n(self)
    }
    fn steps_done(&self) -> u64 {
        GramEngine::steps_done(self)
    }
    fn step(&mut self, rng: &mut SimRng) -> Result<(), SimError> {
        GramEngine::step(self, rng)
    }
    fn macro_state(&self) -> hdgan_core::MacroState {
        GramEngine::macro_state(self)
    }
    fn lanes(&self) -> usize {
        LANES
    }
    fn step_together(
        engines: &mut [&mut Self],
        rngs: &mut [&mut SimRng],
        steps: u64,
    ) -> Result<(), SimError> {
        if engines.len() != LANES {
            return crate::run::step_each(engines, rngs, steps);
        }
        // The streams side by side for the batch (as the engines' factors are), written
        // back afterwards, also on divergence.
        let mut streams: Vec<SimRng> = rngs.iter().map(|r| (**r).clone()).collect();
        let mut batch = GramLanes::new(engines.iter_mut().map(|e| &mut **e).collect());
        let mut result = Ok(());
        for _ in 0..steps {
            if let Err((_, e)) = batch.step(&mut streams) {
                result = Err(e);
                break;
            }
        }
        for (r, s) in rngs.iter_mut().zip(streams) {
            **r = s;
        }
        result
    }
}

/// Member l's random draws, in the scalar step's order: the three latents, alpha, beta,
/// gamma, then the chi variable of the out-of-span noise.
fn draw(e: &GramEngine, rng: &mut SimRng, s: &mut Lanes, l: usize) {
    let dr = &mut s.draws;
    dr.draw(e.model(), rng);
    let fill = |src: &[f64], dst: &mut [V]| {
        for (x, y) in src.iter().zip(dst.iter_mut()) {
            y[l] = *x;
        }
    };
    fill(dr.c(), &mut s.c);
    fill(dr.c0(), &mut s.c0);
    fill(dr.c1(), &mut s.c1);
    fill(dr.alpha(), &mut s.alpha);
    fill(dr.beta(), &mut s.beta);
    s.gamma[l] = dr.gamma();
    s.chi[l] = e.draw_chi(rng);
}

/// Four lanes of f64 and the operations the step needs, each rounding as the scalar
/// operation does (IEEE add, sub, mul, div, sqrt; no fused multiply-add). Comparisons give
/// masks (all bits set where true) in the same type.
///
/// The two constructors, `ld` and `splat`, take a [`Ops::Cpu`]: the proof that the CPU
/// runs the implementation's instructions. A value of the type can therefore only exist
/// where that proof does, and the methods on `self` need none.
trait Ops: Copy {
    /// What proves that the CPU has the instructions (`()` for portable code).
    type Cpu: Copy;
    fn ld(cpu: Self::Cpu, x: &V) -> Self;
    fn st(self, x: &mut V);
    fn splat(cpu: Self::Cpu, x: f64) -> Self;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn div(self, o: Self) -> Self;
    fn sqrt(self) -> Self;
    /// `-self` (the sign bit flipped, as scalar negation).
    fn neg(self) -> Self;
    /// Mask of `self > o`.
    fn gt(self, o: Self) -> Self;
    /// Mask of `self < o`.
    fn lt(self, o: Self) -> Self;
    /// Mask of `self != o`.
    fn ne(self, o: Self) -> Self;
    /// Mask of both.
    fn and(self, o: Self) -> Self;
    /// `mask ? a : b` lane by lane.
    fn select(mask: Self, a: Self, b: Self) -> Self;
    fn to_array(self) -> V;
}

/// The portable lanes (plain arrays).
#[derive(Clone, Copy)]
struct Portable(V);

impl Portable {
    #[inline(always)]
    fn map2(self, o: Self, f: impl Fn(f64, f64) -> f64) -> Self {
        Self(std::array::from_fn(|l| f(self.0[l], o.0[l])))
    }
    #[inline(always)]
    fn mask(self, o: Self, f: impl Fn(f64, f64) -> bool) -> Self {
        Self(std::array::from_fn(|l| {
            f64::from_bits(if f(self.0[l], o.0[l]) { u64::MAX } else { 0 })
        }))
    }
}

impl Ops for Portable {
    type Cpu = ();
    #[inline(always)]
    fn ld((): (), x: &V) -> Self {
        Self(*x)
    }
    #[inline(always)]
    fn st(self, x: &mut V) {
        *x = self.0;
    }
    #[inline(always)]
    fn splat((): (), x: f64) -> Self {
        Self([x; LANES])
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        self.map2(o, |a, b| a + b)
    }
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        self.map2(o, |a, b| a - b)
    }
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        self.map2(o, |a, b| a * b)
    }
    #[inline(always)]
    fn div(self, o: Self) -> Self {
        self.map2(o, |a, b| a / b)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        Self(self.0.map(f64::sqrt))
    }
    #[inline(always)]
    fn neg(self) -> Self {
        Self(self.0.map(|x| -x))
    }
    #[inline(always)]
    fn gt(self, o: Self) -> Self {
        self.mask(o, |a, b| a > b)
    }
    #[inline(always)]
    fn lt(self, o: Self) -> Self {
        self.mask(o, |a, b| a < b)
    }
    #[inline(always)]
    fn ne(self, o: Self) -> Self {
        self.mask(o, |a, b| a != b)
    }
    #[inline(always)]
    fn and(self, o: Self) -> Self {
        self.map2(o, |a, b| f64::from_bits(a.to_bits() & b.to_bits()))
    }
    #[inline(always)]
    fn select(mask: Self, a: Self, b: Self) -> Self {
        Self(std::array::from_fn(|l| {
            let k = mask.0[l].to_bits();
            f64::from_bits((a.0[l].to_bits() & k) | (b.0[l].to_bits() & !k))
        }))
    }
    #[inline(always)]
    fn to_array(self) -> V {
        self.0
    }
}

/// The AVX2 lanes: the proof that the CPU has AVX2 ([`avx::Avx2`]), the four lanes in one
/// 256-bit register ([`avx::Avx`]) and the step's arithmetic compiled for AVX2
/// ([`avx::arithmetic`]).
///
/// The soundness argument is a type: the intrinsics need AVX2 on the CPU, an `Avx` value
/// can only be made by `Ops::ld` or `Ops::splat`, which take an `Avx2`, and an `Avx2` can
/// only be made by `Avx2::detect` after `is_x86_feature_detected!("avx2")`.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx {
    use super::{Lanes, Ops, V};
    use hdgan_model::Model;
    use std::arch::x86_64::*;

    pub(super) use cpu::Avx2;

    /// The proof, in its own module so that nothing but [`Avx2::detect`] can make one.
    mod cpu {
        /// Proof that the CPU running this process has AVX2: the only way to get one is
        /// [`Avx2::detect`], which asks the CPU. Zero-sized; copying it is free.
        #[derive(Clone, Copy, Debug)]
        pub(in super::super) struct Avx2(());

        impl Avx2 {
            /// The proof, if the CPU has AVX2.
            pub(in super::super) fn detect() -> Option<Self> {
                std::is_x86_feature_detected!("avx2").then_some(Avx2(()))
            }
        }
    }

    /// Four lanes in one 256-bit register. Its field is private to this module, whose only
    /// constructors of it take an [`Avx2`]: a value proves the CPU has AVX2. Its methods
    /// are inlined into [`arithmetic_avx2`], which is compiled for AVX2.
    #[derive(Clone, Copy)]
    pub(super) struct Avx(__m256d);

    // SAFETY (every `unsafe` block of this impl): the intrinsics require AVX (a subset of
    // AVX2) on the CPU, which the `Avx2` argument of `ld` and `splat`, or the `Avx` value
    // in hand (made by one of them), proves; the intrinsics take no pointers, except the
    // unaligned load and store, which read and write the 32 bytes of a `&[f64; 4]` /
    // `&mut [f64; 4]`.
    impl Ops for Avx {
        type Cpu = Avx2;
        #[inline(always)]
        fn ld(_: Avx2, x: &V) -> Self {
            // SAFETY: AVX2 is proven by the argument; `x` is 32 readable bytes.
            Self(unsafe { _mm256_loadu_pd(x.as_ptr()) })
        }
        #[inline(always)]
        fn st(self, x: &mut V) {
            // SAFETY: AVX2 is proven by `self`; `x` is 32 writable bytes.
            unsafe { _mm256_storeu_pd(x.as_mut_ptr(), self.0) }
        }
        #[inline(always)]
        fn splat(_: Avx2, x: f64) -> Self {
            // SAFETY: AVX2 is proven by the argument.
            Self(unsafe { _mm256_set1_pd(x) })
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            // SAFETY: AVX2 is proven by `self`.
            Self(unsafe { _mm256_add_pd(self.0, o.0) })
        }
        #[inline(always)]
        fn sub(self, o: Self) -> Self {
            // SAFETY: AVX2 is proven by `self`.
            Self(unsafe { _mm256_sub_pd(self.0, o.0) })
        }
        #[inline(always)]
        fn mul(self, o: Self) -> Self {
            // SAFETY: AVX2 is proven by `self`.
            Self(unsafe { _mm256_mul_pd(self.0, o.0) })
        }
        #[inline(always)]
        fn div(self, o: Self) -> Self {
            // SAFETY: AVX2 is proven by `self`.
            Self(unsafe { _mm256_div_pd(self.0, o.0) })
        }
        #[inline(always)]
        fn sqrt(self) -> Self {
            // SAFETY: AVX2 is proven by `self`.
            Self(unsafe { _mm256_sqrt_pd(self.0) })
        }
        #[inline(always)]
        fn neg(self) -> Self {
            // SAFETY: AVX2 is proven by `self`.
            Self(unsafe { _mm256_xor_pd(self.0, _mm256_set1_pd(-0.0)) })
        }
        #[inline(always)]
        fn gt(self, o: Self) -> Self {
            // SAFETY: AVX2 is proven by `self`.
            Self(unsafe { _mm256_cmp_pd::<_CMP_GT_OQ>(self.0, o.0) })
        }
        #[inline(always)]
        fn lt(self, o: Self) -> Self {
            // SAFETY: AVX2 is proven by `self`.
            Self(unsafe { _mm256_cmp_pd::<_CMP_LT_OQ>(self.0, o.0) })
        }
        #[inline(always)]
        fn ne(self, o: Self) -> Self {
            // Unordered-or-not-equal: true for NaN, as Rust's `!=`.
            // SAFETY: AVX2 is proven by `self`.
            Self(unsafe { _mm256_cmp_pd::<_CMP_NEQ_UQ>(self.0, o.0) })
        }
        #[inline(always)]
        fn and(self, o: Self) -> Self {
            // SAFETY: AVX2 is proven by `self`.
            Self(unsafe { _mm256_and_pd(self.0, o.0) })
        }
        #[inline(always)]
        fn select(mask: Self, a: Self, b: Self) -> Self {
            // SAFETY: AVX2 is proven by `mask`.
            Self(unsafe { _mm256_blendv_pd(b.0, a.0, mask.0) })
        }
        #[inline(always)]
        fn to_array(self) -> V {
            let mut out = [0.0; 4];
            self.st(&mut out);
            out
        }
    }

    /// The deterministic part of a step in AVX2 registers ([`super::arithmetic`]), on the
    /// CPU `cpu` proves has AVX2.
    pub(super) fn arithmetic(cpu: Avx2, model: &Model, s: &mut Lanes, blowup: &V) -> bool {
        // SAFETY: `arithmetic_avx2` is compiled for AVX2, which `cpu` proves the CPU has.
        unsafe { arithmetic_avx2(cpu, model, s, blowup) }
    }

    /// [`super::arithmetic`] compiled for AVX2, so that the `Avx` methods inline into it.
    #[target_feature(enable = "avx2")]
    fn arithmetic_avx2(cpu: Avx2, model: &Model, s: &mut Lanes, blowup: &V) -> bool {
        super::arithmetic::<Avx>(cpu, model, s, blowup)
    }
}

/// Lane-wise dot product of two columns, products summed in order from [`sum_start`] (the
/// scalar engine's `dot`).
#[inline(always)]
fn dot<O: Ops>(cpu: O::Cpu, a: &[V], b: &[V]) -> O {
    let mut acc = O::splat(cpu, sum_start());
    for (x, y) in a.iter().zip(b) {
        acc = acc.add(O::ld(cpu, x).mul(O::ld(cpu, y)));
    }
    acc
}

/// The discriminator's `f` (or `f~`) lane by lane; the identity of the quadratic loss
/// without leaving the registers.
#[inline(always)]
fn loss<O: Ops>(cpu: O::Cpu, model: &Model, x: O, tilde: bool) -> O {
    if matches!(model.loss(), Loss::Quadratic) {
        return x;
    }
    let x = x.to_array();
    let y: V = std::array::from_fn(|l| {
        if tilde {
            model.loss().f_tilde(x[l])
        } else {
            model.loss().f(x[l])
        }
    });
    O::ld(cpu, &y)
}

/// The deterministic part of [`GramEngine::step`], lane by lane; false when a member's
/// `z` or an `S_jj` is not finite or above its bound (the scalar engine's divergence check).
#[inline(always)]
fn arithmetic<O: Ops>(cpu: O::Cpu, model: &Model, s: &mut Lanes, blowup: &V) -> bool {
    // The common feature counts get their own copies with constant loop bounds (unrolled,
    // without bounds checks); the arithmetic is the same.
    match s.d {
        1 => arithmetic_d::<O>(cpu, 1, model, s, blowup),
        2 => arithmetic_d::<O>(cpu, 2, model, s, blowup),
        3 => arithmetic_d::<O>(cpu, 3, model, s, blowup),
        4 => arithmetic_d::<O>(cpu, 4, model, s, blowup),
        d => arithmetic_d::<O>(cpu, d, model, s, blowup),
    }
}

#[inline(always)]
fn arithmetic_d<O: Ops>(cpu: O::Cpu, d: usize, model: &Model, s: &mut Lanes, blowup: &V) -> bool {
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
    let nf = model.n() as f64;
    let sp = O::splat;
    let (a, at) = (sp(cpu, model.tau() / nf), sp(cpu, model.tau_tilde() / nf));
    let (st, sg) = (sp(cpu, model.eta_t().sqrt()), sp(cpu, model.eta_g().sqrt()));
    rw.copy_from_slice(&r[2 * d * m..(2 * d + 1) * m]);
    // In-frame parts of y and y~_2k.
    for i in 0..m {
        st.mul(O::ld(cpu, &alpha[i])).st(&mut yin[i]);
        sg.mul(O::ld(cpu, &beta[i])).st(&mut y0in[i]);
    }
    for j in 0..d {
        let (cj, c0j) = (O::ld(cpu, &c[j]), O::ld(cpu, &c0[j]));
        for i in 0..m {
            O::ld(cpu, &yin[i])
                .add(cj.mul(O::ld(cpu, &r[j * m + i])))
                .st(&mut yin[i]);
        }
        for i in 0..m {
            O::ld(cpu, &y0in[i])
                .add(c0j.mul(O::ld(cpu, &r[(d + j) * m + i])))
                .st(&mut y0in[i]);
        }
    }
    let z: O = dot(cpu, rw, rw);
    for j in 0..d {
        dot::<O>(cpu, &r[(d + j) * m..(d + j + 1) * m], rw).st(&mut rv[j]);
    }
    let f = loss(cpu, model, dot::<O>(cpu, yin, rw), false);
    let f0 = loss(cpu, model, dot::<O>(cpu, y0in, rw), true);
    let arg1 = dot::<O>(cpu, c1, rv).add(sg.mul(z.sqrt()).mul(O::ld(cpu, gamma)));
    let f1 = loss(cpu, model, arg1, true);
    let reg_w: O = match model.lambda() {
        Lambda::Finite(lam) => {
            let h = model.regularizer();
            for j in 0..d {
                let col = &r[(d + j) * m..(d + j + 1) * m];
                let vv = dot::<O>(cpu, col, col).to_array();
                reg_v[j] = vv.map(|x| lam * h.h_prime(x));
            }
            O::ld(cpu, &z.to_array().map(|x| lam * h.h_prime(x)))
        }
        Lambda::Infinite => {
            reg_v.fill([0.0; LANES]);
            sp(cpu, 0.0)
        }
    };
    let s_perp = sp(cpu, model.eta_t())
        .mul(f)
        .mul(f)
        .add(sp(cpu, model.eta_g()).mul(f0).mul(f0))
        .sqrt();
    ext.fill([0.0; LANES]);
    for j in 0..d {
        ext[j * ld..j * ld + m].copy_from_slice(&r[j * m..(j + 1) * m]);
        let kv = sp(cpu, 1.0).sub(at.mul(O::ld(cpu, &reg_v[j])));
        let kw = at.mul(f1).mul(O::ld(cpu, &c1[j]));
        for i in 0..m {
            kv.mul(O::ld(cpu, &r[(d + j) * m + i]))
                .add(kw.mul(O::ld(cpu, &rw[i])))
                .st(&mut ext[(d + j) * ld + i]);
        }
    }
    for i in 0..m {
        let w = O::ld(cpu, &rw[i]);
        let step = f
            .mul(O::ld(cpu, &yin[i]))
            .sub(f0.mul(O::ld(cpu, &y0in[i])))
            .sub(reg_w.mul(w));
        w.add(a.mul(step)).st(&mut ext[2 * d * ld + i]);
    }
    a.mul(s_perp)
        .mul(O::ld(cpu, chi))
        .st(&mut ext[2 * d * ld + m]);
    qr_lanes::<O>(cpu, ext, m, d, house, r);
    if model.lambda().is_infinite() {
        for k in d..m {
            let col = &mut r[k * m..(k + 1) * m];
            let norm = dot::<O>(cpu, col, col).sqrt();
            let keep = norm.gt(sp(cpu, 0.0));
            for x in col.iter_mut() {
                let old = O::ld(cpu, x);
                O::select(keep, old.div(norm), old).st(x);
            }
        }
    }
    let mut ok = true;
    for k in d..m {
        let col = &r[k * m..(k + 1) * m];
        let nn = dot::<O>(cpu, col, col).to_array();
        for l in 0..LANES {
            ok &= nn[l].is_finite() && nn[l] <= blowup[l];
        }
    }
    ok
}

/// The scalar engine's Householder QR (`qr_upper_into`), lane by lane: a lane whose
/// column norm or reflector norm is zero skips that column as the scalar code does.
#[inline(always)]
fn qr_lanes<O: Ops>(cpu: O::Cpu, a: &mut [V], m: usize, done: usize, v: &mut [V], r: &mut [V]) {
    let ld = m + 1;
    let zero = O::splat(cpu, 0.0);
    for k in done..m {
        let col = &a[k * ld + k..(k + 1) * ld];
        let norm = dot::<O>(cpu, col, col).sqrt();
        let alpha = O::select(O::ld(cpu, &a[k * ld + k]).gt(zero), norm.neg(), norm);
        let v = &mut v[..ld - k];
        v.copy_from_slice(col);
        O::ld(cpu, &v[0]).sub(alpha).st(&mut v[0]);
        let vv = dot::<O>(cpu, v, v);
        let active = norm.ne(zero).and(vv.ne(zero));
        for j in k..m {
            let c = &mut a[j * ld + k..(j + 1) * ld];
            let sj = O::splat(cpu, 2.0).mul(dot::<O>(cpu, v, c)).div(vv);
            for (ci, vi) in c.iter_mut().zip(v.iter()) {
                let old = O::ld(cpu, ci);
                O::select(active, old.sub(sj.mul(O::ld(cpu, vi))), old).st(ci);
            }
        }
    }
    r.fill([0.0; LANES]);
    for j in 0..m {
        r[j * m..j * m + j + 1].copy_from_slice(&a[j * ld..j * ld + j + 1]);
    }
    for i in 0..m {
        let flip = O::ld(cpu, &r[i * m + i]).lt(zero);
        for j in i..m {
            let x = O::ld(cpu, &r[j * m + i]);
            O::select(flip, x.neg(), x).st(&mut r[j * m + i]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GramVariant, Schedule};
    use hdgan_core::MacroState;
    use hdgan_model::random::stream_rng;
    use hdgan_model::{LambdaValue, LatentConfig, ModelConfig};

    /// `gram_ensemble` (groups of four, a last group of two one by one) gives
    /// `run_ensemble`'s scalar paths bit for bit, on any thread count.
    #[test]
    fn gram_ensemble_equals_the_scalar_ensemble() {
        let model = ModelConfig::figure1(500, 2.0).validate("model").unwrap();
        let start = MacroState::diagonal_start(2, 0.1, 0.1);
        let schedule = Schedule::from_times(model.n(), 4.0, 2.0).unwrap();
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
    /// correlated generator latent. Both lane implementations: the AVX2 one where the CPU
    /// has it, and the portable one.
    #[test]
    fn lanes_equal_the_scalar_engine_bit_for_bit() {
        for (ci, model, variant) in test_cases() {
            let model = &model;
            let build = || fresh(model, variant);
            let steps = if model.d() > 2 { 100 } else { 1000 };
            for portable in [false, true] {
                let mut engines: Vec<GramEngine> = (0..LANES).map(|_| build()).collect();
                let mut rngs: Vec<SimRng> = (0..LANES)
                    .map(|i| stream_rng(70 + ci as u64, i as u64))
                    .collect();
                {
                    let mut batch = GramLanes::new(engines.iter_mut().collect());
                    #[cfg(target_arch = "x86_64")]
                    if portable {
                        batch.avx2 = None;
                    }
                    for _ in 0..steps {
                        batch.step(&mut rngs).unwrap();
                    }
                }
                for (i, got) in engines.iter().enumerate() {
                    let mut want = build();
                    let mut rng = stream_rng(70 + ci as u64, i as u64);
                    for _ in 0..steps {
                        want.step(&mut rng).unwrap();
                    }
                    let bits =
                        |e: &GramEngine| e.factor().iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(got),
                        bits(&want),
                        "case {ci}, {variant:?}, member {i}, portable {portable}"
                    );
                    assert_eq!(got.steps_done(), steps);
                }
            }
        }
    }

    /// Every (case index, model, variant) of the bit-for-bit tests: the exact engine and
    /// both controls on each of [`test_models`].
    fn test_cases() -> Vec<(usize, Model, GramVariant)> {
        let variants = [
            GramVariant::Exact,
            GramVariant::WrongChiDof,
            GramVariant::NoPerpendicularNoise,
        ];
        let models = test_models().into_iter().enumerate();
        models
            .flat_map(|(ci, m)| variants.map(|v| (ci, m.clone(), v)))
            .collect()
    }

    /// A fresh engine of the tests' start.
    fn fresh(model: &Model, variant: GramVariant) -> GramEngine {
        let start = MacroState::diagonal_start(model.d(), 0.1, 0.1);
        GramEngine::from_macro(model, &start, crate::DEFAULT_BLOWUP).with_variant(variant)
    }

    /// The models of the bit-for-bit tests.
    fn test_models() -> Vec<Model> {
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
            c.loss = loss.into();
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
        cases
    }

    /// The run loop steps a group of [`LANES`] Gram members in a batch: each member
    /// records what [`crate::run`] records for it alone, and its stream ends where the
    /// scalar run leaves it.
    #[test]
    fn lanes_in_the_run_loop_equal_the_scalar_run() {
        for (ci, model, variant) in test_cases() {
            let model = &model;
            let build = || fresh(model, variant);
            // The d = 17 case only needs to run (a short horizon keeps the test fast).
            let t_end = if model.d() > 2 { 0.5 } else { 5.0 };
            let schedule = Schedule::from_times(model.n(), t_end, t_end / 5.0).unwrap();
            let mut members =
                crate::build_members(LANES, 40 + ci as u64, |_, _| Ok(build())).unwrap();
            assert_eq!(members[0].engine.lanes(), LANES);
            crate::advance_all(&mut members, &schedule, schedule.steps, Default::default())
                .unwrap();
            for (i, got) in members.iter().enumerate() {
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
                assert_eq!(
                    bits(&got.trajectory),
                    bits(&want),
                    "case {ci}, {variant:?}, member {i}"
                );
                assert_eq!(got.rng, rng, "stream of member {i}");
            }
        }
    }
}
