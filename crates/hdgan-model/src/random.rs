//! Random streams and fast standard normals.
//!
//! Every stream is a [`SimRng`], a xoshiro256++ generator seeded from an explicit seed.
//! Ensemble member `i` of a run with seed `s` uses [`stream_rng`]`(s, i)`, so a result
//! depends on `(seed, member)` only, never on thread scheduling.
//!
//! Normals come from a 256-layer ziggurat (Marsaglia & Tsang 2000): exact (rejection with
//! the exact density in the wedges, Marsaglia's exact tail method), with the generator
//! state kept in registers over a whole buffer ([`SimRng::fill_normals`]).
//!
//! Why hdgan has its own xoshiro256++ rather than `rand_xoshiro`'s: the two give the same
//! sequence and the same jump (tests), and the same speed for raw draws, but hdgan needs
//! the raw state, which `rand_xoshiro::Xoshiro256PlusPlus` does not expose: checkpoint
//! files store it, and the eight-lane generator of the fast step is seeded from it by
//! jumps. `cargo bench -p hdgan-benches --bench normals` (2-core AVX-512 Xeon, 1e5 draws):
//! raw `u64` 1.28 ns (`SimRng`) vs 1.38 ns (`rand_xoshiro`), confidence intervals
//! overlapping; normals 2.3 ns ([`SimRng::fill_normals`]) vs 6.4 ns
//! (`rand_distr::StandardNormal` on `rand_xoshiro`) and 8.5 ns (`rand_distr` on `SimRng`).

use crate::zig_tables::{F, X};
use std::convert::Infallible;

/// The generator every engine uses: xoshiro256++ (Blackman & Vigna), implemented here so
/// that buffer fills can keep its state in registers; it produces the same sequence as
/// `rand_xoshiro::Xoshiro256PlusPlus` from the same state. It implements [`rand::Rng`], so
/// any `rand_distr` distribution accepts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimRng {
    s: [u64; 4],
}

/// SplitMix64's output function: a bijection of `u64` that mixes all bits.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The random stream of ensemble member `member` in a run with seed `seed`.
///
/// The state is `(mix(seed ^ A), mix(member ^ B), mix(s0 + C ^ rot(s1)), mix(s1 + D ^ rot(s0)))`
/// with `mix` a bijection of `u64`, so distinct `(seed, member)` pairs get distinct states
/// (unlike `seed + member`, where (1, 0) and (0, 1) collide).
pub fn stream_rng(seed: u64, member: u64) -> SimRng {
    let s0 = mix64(seed ^ 0x9E37_79B9_7F4A_7C15);
    let s1 = mix64(member ^ 0xD1B5_4A32_D192_ED03);
    let s2 = mix64(s0.wrapping_add(0x8CB9_2BA7_2F3D_8DD7) ^ s1.rotate_left(17));
    let s3 = mix64(s1.wrapping_add(0xABC9_8388_FB8F_AC03) ^ s0.rotate_left(29));
    SimRng::from_state([s0, s1, s2, s3])
}

impl SimRng {
    /// A generator with xoshiro256++ state `state` (an all-zero state, which xoshiro
    /// cannot leave, is replaced by `[1, 0, 0, 0]`).
    pub fn from_state(state: [u64; 4]) -> Self {
        let s = if state == [0; 4] { [1, 0, 0, 0] } else { state };
        Self { s }
    }

    /// The xoshiro256++ state (to derive further streams with [`jump`]).
    pub fn state(&self) -> [u64; 4] {
        self.s
    }

    /// One standard normal.
    #[inline]
    pub fn normal(&mut self) -> f64 {
        let bits = xoshiro_next(&mut self.s);
        // The fast test inline; only the rare (1.2%) rejected candidates call the cold
        // wedge-and-tail code (which repeats this test first: same draws either way).
        let (i, c) = candidate(bits);
        if c.abs() < X[i + 1] {
            c
        } else {
            normal_from_bits(&mut self.s, bits)
        }
    }

    /// Fills `out` with independent standard normals.
    pub fn fill_normals(&mut self, out: &mut [f64]) {
        self.fill_normals_with(out, |_, _| {});
    }

    /// Fills `out` with independent standard normals and calls `visit(i, out[i])` right
    /// after drawing each one, so that a caller can fold reductions over the draws into the
    /// same pass (the values are still in registers). Same draws as [`SimRng::fill_normals`].
    #[inline]
    pub fn fill_normals_with<V: FnMut(usize, f64)>(&mut self, out: &mut [f64], mut visit: V) {
        self.for_each_normal(out.len(), |k, x| {
            out[k] = x;
            visit(k, x);
        });
    }

    /// Draws `count` independent standard normals and hands each to `visit(i, x)` without
    /// storing them (the caller decides what to keep). Same draws, in the same order, as
    /// [`SimRng::fill_normals`] of `count` values.
    #[inline]
    pub fn for_each_normal<V: FnMut(usize, f64)>(&mut self, count: usize, mut visit: V) {
        let mut st = self.s;
        for k in 0..count {
            let bits = xoshiro_next(&mut st);
            let (i, c) = candidate(bits);
            let x = if c.abs() < X[i + 1] {
                c
            } else {
                // Rare (1.2%): go through memory so that `st` itself never escapes and
                // stays in registers on the fast path.
                self.s = st;
                let y = normal_from_bits(&mut self.s, bits);
                st = self.s;
                y
            };
            visit(k, x);
        }
        self.s = st;
    }
}

/// The ziggurat, starting from the random word `bits`; draws more words from `s` when the
/// first candidate is rejected.
#[inline(never)]
#[cold]
fn normal_from_bits(s: &mut [u64; 4], mut bits: u64) -> f64 {
    loop {
        let (i, x) = candidate(bits);
        if x.abs() < X[i + 1] {
            return x;
        }
        if i == 0 {
            return tail(s, x < 0.0);
        }
        let u = unit_open(xoshiro_next(s));
        let y = F[i + 1] + (F[i] - F[i + 1]) * u;
        if let Some(accept) = wedge_squeeze(i, x.abs(), y) {
            if accept {
                return x;
            }
        } else if y < (-0.5 * x * x).exp() {
            return x;
        }
        bits = xoshiro_next(s);
    }
}

/// The wedge test `y < f(x) = exp(-x^2 / 2)` of layer `i` (`X[i + 1] <= ax < X[i]`)
/// decided without `exp` when `y` lies outside the band between a chord and a tangent of
/// `f`: where f is convex (`X[i + 1] >= 1`) the tangent at `X[i]` lies below it and the
/// chord through the layer's corners above it; where it is concave (`X[i] <= 1`) the other
/// way round. `None` when `y` falls in the band (or the layer straddles x = 1): compute
/// `exp`. The bounds carry a relative safety margin of 1e-12, far above their rounding
/// error, so a decision taken here is the one `exp` would give.
#[inline]
fn wedge_squeeze(i: usize, ax: f64, y: f64) -> Option<bool> {
    let (xa, xb) = (X[i], X[i + 1]);
    let chord = F[i] + chord_slopes()[i] * (xa - ax);
    let tangent = F[i] * (1.0 + xa * (xa - ax));
    let (lower, upper) = if xb >= 1.0 {
        (tangent, chord)
    } else if xa <= 1.0 {
        (chord, tangent)
    } else {
        return None;
    };
    if y < lower * (1.0 - 1e-12) {
        Some(true)
    } else if y > upper * (1.0 + 1e-12) {
        Some(false)
    } else {
        None
    }
}

/// `(F[i + 1] - F[i]) / (X[i] - X[i + 1])`, the chord slopes of the wedges.
fn chord_slopes() -> &'static [f64; 256] {
    static SLOPES: std::sync::OnceLock<[f64; 256]> = std::sync::OnceLock::new();
    SLOPES.get_or_init(|| std::array::from_fn(|i| (F[i + 1] - F[i]) / (X[i] - X[i + 1])))
}

/// Marsaglia's exact method for the tail beyond R.
fn tail(s: &mut [u64; 4], negative: bool) -> f64 {
    loop {
        let x = unit_open(xoshiro_next(s)).ln() / ZIG_R;
        let y = unit_open(xoshiro_next(s)).ln();
        if -2.0 * y >= x * x {
            return if negative { x - ZIG_R } else { ZIG_R - x };
        }
    }
}

/// The xoshiro256 jump: the state 2^128 draws ahead of `s` (Blackman & Vigna's
/// polynomial), for streams that must not overlap.
pub fn jump(mut s: [u64; 4]) -> [u64; 4] {
    const JUMP: [u64; 4] = [
        0x180E_C6D3_3CFD_0ABA,
        0xD5A6_1266_F0C9_392C,
        0xA958_2618_E03F_C9AA,
        0x39AB_DC45_29B1_661C,
    ];
    let mut out = [0u64; 4];
    for j in JUMP {
        for b in 0..64 {
            if j & (1u64 << b) != 0 {
                for (o, x) in out.iter_mut().zip(&s) {
                    *o ^= x;
                }
            }
            xoshiro_next(&mut s);
        }
    }
    out
}

/// The ziggurat's layer edges `X[0..=256]` (`X[256] = 0`), for vectorised generators that
/// draw the candidate `u X[i]` themselves (layer `i = bits & 0xff`, `u` from the top 52
/// bits in [-1, 1)) and accept it when `|u X[i]| < X[i + 1]`.
pub fn ziggurat_layers() -> &'static [f64; 257] {
    &X
}

/// Finishes a ziggurat draw whose first word `bits` was rejected by the fast test
/// (`|u X[i]| >= X[i + 1]`): the wedge and tail steps, with further words from the
/// xoshiro256++ state `s`. Together with the fast test this is exactly
/// [`SimRng::normal`]'s algorithm.
pub fn ziggurat_finish(s: &mut [u64; 4], bits: u64) -> f64 {
    normal_from_bits(s, bits)
}

/// One xoshiro256++ step on a bare state.
#[inline(always)]
pub fn xoshiro256pp(s: &mut [u64; 4]) -> u64 {
    xoshiro_next(s)
}

#[inline(always)]
fn xoshiro_next(s: &mut [u64; 4]) -> u64 {
    let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
    let t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = s[3].rotate_left(45);
    result
}

/// Layer index and candidate `x = u x_i`, `u` uniform in [-1, 1) from the top 52 bits.
#[inline(always)]
fn candidate(bits: u64) -> (usize, f64) {
    let i = (bits & 0xff) as usize;
    let u = f64::from_bits((bits >> 12) | 0x4000_0000_0000_0000) - 3.0;
    (i, u * X[i])
}

/// A uniform in (0, 1) from the top 52 bits (never 0, so its log is finite).
#[inline]
fn unit_open(bits: u64) -> f64 {
    f64::from_bits((bits >> 12) | 0x3FF0_0000_0000_0000) - (1.0 - f64::EPSILON / 2.0)
}

impl rand_core::TryRng for SimRng {
    type Error = Infallible;
    #[inline]
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((xoshiro_next(&mut self.s) >> 32) as u32)
    }
    #[inline]
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(xoshiro_next(&mut self.s))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let b = xoshiro_next(&mut self.s).to_le_bytes();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
        Ok(())
    }
}

/// The chi-square law with `k` degrees of freedom, `2 Gamma(k / 2)`.
///
/// For `k >= 2` it is sampled by Marsaglia & Tsang's (2000) squeeze-and-reject method for
/// the gamma law with shape `a = k / 2 >= 1`: with `b = a - 1/3` and `c = 1 / sqrt(9 b)`,
/// draw `x ~ N(0, 1)` (this module's ziggurat) until `v = (1 + c x)^3 > 0`, then a uniform
/// `u` in (0, 1); accept `b v` when `u < 1 - 0.0331 x^4` or
/// `ln u < x^2 / 2 + b (1 - v + ln v)`, else start again. Exact in law; about 1.02 normals
/// and one uniform per draw for large k. For `0 < k < 2` it defers to `rand_distr`.
#[derive(Clone, Copy, Debug)]
pub struct ChiSquare {
    k: f64,
    b: f64,
    c: f64,
    small: Option<rand_distr::ChiSquared<f64>>,
}

impl ChiSquare {
    /// The law with `k` degrees of freedom; None unless k is finite and positive.
    pub fn new(k: f64) -> Option<Self> {
        if !(k.is_finite() && k > 0.0) {
            return None;
        }
        let b = k / 2.0 - 1.0 / 3.0;
        Some(Self {
            k,
            b,
            c: 1.0 / (9.0 * b).sqrt(),
            small: if k < 2.0 {
                Some(rand_distr::ChiSquared::new(k).ok()?)
            } else {
                None
            },
        })
    }

    /// The degrees of freedom.
    pub fn k(&self) -> f64 {
        self.k
    }

    /// One draw.
    #[inline]
    pub fn sample(&self, rng: &mut SimRng) -> f64 {
        if let Some(small) = &self.small {
            return rand::RngExt::sample(rng, small);
        }
        loop {
            let x = rng.normal();
            let v = 1.0 + self.c * x;
            if v <= 0.0 {
                continue;
            }
            let v = v * v * v;
            let u = unit_open(xoshiro_next(&mut rng.s));
            let x2 = x * x;
            if u < 1.0 - 0.0331 * x2 * x2 || u.ln() < 0.5 * x2 + self.b * (1.0 - v + v.ln()) {
                return 2.0 * self.b * v;
            }
        }
    }
}

/// Ziggurat tail start for 256 layers (Marsaglia & Tsang 2000).
pub(crate) const ZIG_R: f64 = 3.654_152_885_361_009;
/// Area of each of the 256 layers.
#[cfg(test)]
pub(crate) const ZIG_V: f64 = 4.928_673_233_99e-3;

/// One standard normal draw.
#[inline]
pub fn standard_normal(rng: &mut SimRng) -> f64 {
    rng.normal()
}

/// Fills `out` with independent standard normals.
#[inline]
pub fn fill_standard_normal(rng: &mut SimRng, out: &mut [f64]) {
    rng.fill_normals(out);
}

#[cfg(test)]
mod chi_square_tests {
    use super::*;

    /// k = 4 against its closed-form CDF `1 - exp(-x/2) (1 + x/2)` (one-sample KS at the
    /// 0.1% level, critical D = 1.95 / sqrt(N)), and the first three moments for k = 3, 40
    /// and 4995 (the Gram engine's n - m at n = 5000) within 5 standard errors: mean k,
    /// variance 2k, third central moment 8k.
    #[test]
    fn chi_square_has_the_right_law() {
        let n = 100_000;
        let mut rng = stream_rng(11, 0);
        let law = ChiSquare::new(4.0).unwrap();
        let mut x: Vec<f64> = (0..n).map(|_| law.sample(&mut rng)).collect();
        x.sort_by(f64::total_cmp);
        let cdf = |x: f64| 1.0 - (-x / 2.0).exp() * (1.0 + x / 2.0);
        let d = x
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let f = cdf(v);
                (f - i as f64 / n as f64)
                    .abs()
                    .max(((i + 1) as f64 / n as f64 - f).abs())
            })
            .fold(0.0, f64::max);
        assert!(d < 1.95 / (n as f64).sqrt(), "KS D = {d}");
        for k in [3.0, 40.0, 4995.0] {
            let law = ChiSquare::new(k).unwrap();
            let x: Vec<f64> = (0..n).map(|_| law.sample(&mut rng)).collect();
            let nf = n as f64;
            let mean = x.iter().sum::<f64>() / nf;
            let m2 = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / nf;
            let m3 = x.iter().map(|v| (v - mean).powi(3)).sum::<f64>() / nf;
            // Standard errors: sd/sqrt(N) for the mean; sqrt(mu4 - mu2^2)/sqrt(N) for the
            // variance (mu4 = 12 k^2 + 48 k); the third moment's from its sample spread.
            let se_mean = (2.0 * k / nf).sqrt();
            let se_var = ((12.0 * k * k + 48.0 * k - 4.0 * k * k) / nf).sqrt();
            let s3: Vec<f64> = x.iter().map(|v| (v - mean).powi(3)).collect();
            let se_m3 = (s3.iter().map(|v| (v - m3).powi(2)).sum::<f64>() / nf / nf).sqrt();
            assert!((mean - k).abs() < 5.0 * se_mean, "k = {k}: mean {mean}");
            assert!(
                (m2 - 2.0 * k).abs() < 5.0 * se_var,
                "k = {k}: variance {m2}"
            );
            assert!(
                (m3 - 8.0 * k).abs() < 5.0 * se_m3,
                "k = {k}: third moment {m3}"
            );
        }
        assert!(ChiSquare::new(0.0).is_none() && ChiSquare::new(f64::NAN).is_none());
        assert!(ChiSquare::new(1.5).unwrap().sample(&mut rng) >= 0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;
    use rand_core::SeedableRng;

    #[test]
    fn sequence_is_xoshiro256plusplus() {
        let state = [1u64, 2, 3, 4];
        let mut ours = SimRng::from_state(state);
        let mut bytes = [0u8; 32];
        for (c, w) in bytes.chunks_exact_mut(8).zip(state) {
            c.copy_from_slice(&w.to_le_bytes());
        }
        let mut reference = rand_xoshiro::Xoshiro256PlusPlus::from_seed(bytes);
        for _ in 0..100 {
            assert_eq!(ours.next_u64(), reference.next_u64());
        }
    }

    #[test]
    fn jump_is_rand_xoshiro_jump() {
        let state = [5u64, 6, 7, 8];
        let mut bytes = [0u8; 32];
        for (c, w) in bytes.chunks_exact_mut(8).zip(state) {
            c.copy_from_slice(&w.to_le_bytes());
        }
        let mut reference = rand_xoshiro::Xoshiro256PlusPlus::from_seed(bytes);
        reference.jump();
        let mut ours = SimRng::from_state(jump(state));
        for _ in 0..100 {
            assert_eq!(ours.next_u64(), reference.next_u64());
        }
    }

    /// Wherever the squeeze decides, it decides as `exp` does: a grid over every layer's
    /// wedge and heights.
    #[test]
    fn wedge_squeeze_agrees_with_the_exact_test() {
        let mut decided = 0usize;
        let mut total = 0usize;
        for i in 1..256 {
            for a in 0..64 {
                let ax = X[i + 1] + (X[i] - X[i + 1]) * (a as f64 + 0.5) / 64.0;
                let f = (-0.5 * ax * ax).exp();
                for b in 0..64 {
                    let y = F[i + 1] + (F[i] - F[i + 1]) * (b as f64 + 0.5) / 64.0;
                    total += 1;
                    if let Some(accept) = wedge_squeeze(i, ax, y) {
                        decided += 1;
                        assert_eq!(accept, y < f, "layer {i}, x {ax}, y {y}, f {f}");
                    }
                }
            }
        }
        // Most of the wedge is decided without exp.
        assert!(decided as f64 > 0.8 * total as f64, "{decided} of {total}");
    }

    #[test]
    fn buffer_fill_equals_one_by_one_draws() {
        let mut a = stream_rng(5, 2);
        let mut b = a.clone();
        let mut buf = vec![0.0; 10_000];
        a.fill_normals(&mut buf);
        assert!(buf.iter().all(|&x| x.to_bits() == b.normal().to_bits()));
    }

    #[test]
    fn streams_differ_by_seed_and_member_and_repeat() {
        let a = stream_rng(1, 0).next_u64();
        assert_eq!(a, stream_rng(1, 0).next_u64());
        assert_ne!(a, stream_rng(1, 1).next_u64());
        assert_ne!(a, stream_rng(0, 1).next_u64());
        assert_ne!(stream_rng(0, 1).next_u64(), stream_rng(1, 0).next_u64());
    }

    #[test]
    fn tables_follow_the_recursion_and_the_published_values() {
        let pdf = |x: f64| (-0.5 * x * x).exp();
        assert!((X[0] - ZIG_V / pdf(ZIG_R)).abs() < 1e-14);
        assert!((X[1] - ZIG_R).abs() < 1e-15);
        for i in 1..255 {
            let next = (-2.0 * (ZIG_V / X[i] + pdf(X[i])).ln()).sqrt();
            assert!((X[i + 1] - next).abs() < 1e-13, "layer {i}");
        }
        for i in 0..257 {
            assert!((F[i] - pdf(X[i])).abs() < 1e-15, "f {i}");
        }
        assert!(X[256].abs() < 1e-300);
        // Entries of rand_distr's ZIG_NORM_X (from the reference generator script).
        assert!((X[2] - 3.449_278_298_560_964).abs() < 1e-12);
        assert!((X[255] - 0.215_241_895_913_273_8).abs() < 1e-12);
    }

    /// Moments and the Kolmogorov-Smirnov distance of 10^6 draws against Phi. For N draws
    /// the KS statistic exceeds 1.95 / sqrt(N) with probability 0.001; moment errors are
    /// checked at 5 standard errors (SE of mean 1/sqrt N, of E x^2 sqrt(2/N), of E x^4
    /// sqrt(96/N)).
    #[test]
    fn fill_normals_is_standard_normal() {
        let mut rng = stream_rng(7, 0);
        let n = 1_000_000;
        let mut buf = vec![0.0; n];
        rng.fill_normals(&mut buf);
        let nf = n as f64;
        let m1 = buf.iter().sum::<f64>() / nf;
        let m2 = buf.iter().map(|x| x * x).sum::<f64>() / nf;
        let m4 = buf.iter().map(|x| x.powi(4)).sum::<f64>() / nf;
        assert!(m1.abs() < 5.0 / nf.sqrt(), "mean {m1}");
        assert!((m2 - 1.0).abs() < 5.0 * (2.0 / nf).sqrt(), "E x^2 {m2}");
        assert!((m4 - 3.0).abs() < 5.0 * (96.0 / nf).sqrt(), "E x^4 {m4}");
        buf.sort_by(f64::total_cmp);
        let ks = buf
            .iter()
            .enumerate()
            .map(|(k, &x)| {
                let p = phi(x);
                (p - k as f64 / nf)
                    .abs()
                    .max(((k + 1) as f64 / nf - p).abs())
            })
            .fold(0.0, f64::max);
        assert!(ks < 1.95 / nf.sqrt(), "KS distance {ks}");
        // Tail frequency beyond R = 3.654 (probability 2.58e-4): Poisson count, 5 sigma.
        let tail = buf.iter().filter(|x| x.abs() > ZIG_R).count() as f64;
        let expect = 2.0 * (1.0 - phi(ZIG_R)) * nf;
        assert!(
            (tail - expect).abs() < 5.0 * expect.sqrt(),
            "tail {tail} vs {expect}"
        );
    }

    /// Standard normal CDF.
    fn phi(x: f64) -> f64 {
        hdgan_core::stats::normal_cdf(x)
    }
}
