//! The fast step's streaming pass (see [`crate::Sgda`]): draw the new normal vector `xi`
//! eight at a time from [`LaneRng`] and, in the same pass, apply the previous step's
//! update to the stored `V` and `w` (it uses the previous normal vector, kept in `buf`),
//! store the new `xi`, and accumulate its overlaps with `U`, the updated `V` and `w`, and
//! `|xi|^2`.
//!
//! The arithmetic is written once as portable code over blocks of eight lanes (one
//! accumulator per lane, summed in a fixed order, no fused multiply-adds) and once each
//! with AVX2 and AVX-512 intrinsics doing the same operations in the same order; the
//! fastest one the CPU supports is chosen at run time. All three give the same bits (unit
//! test), so results do not depend on the machine.

/// The pending update's coefficients: `w' = kw w + U cu + V cv + cxi xi_prev`,
/// `V'_j = bv_j V_j + bw_j w` (old w).
pub(crate) struct Coef<'a> {
    pub(crate) cu: &'a [f64],
    pub(crate) cv: &'a [f64],
    pub(crate) bv: &'a [f64],
    pub(crate) bw: &'a [f64],
    pub(crate) kw: f64,
    pub(crate) cxi: f64,
}

/// Overlaps of the new `xi` with `U`, the updated `V`, the updated `w`, and `|xi|^2`.
pub(crate) struct Overlaps {
    pub(crate) u: Vec<f64>,
    pub(crate) v: Vec<f64>,
    pub(crate) w: f64,
    pub(crate) xx: f64,
}

/// Any d: the same arithmetic one column at a time (not the hot path), on column slices
/// of one length `m` (the whole vectors or one chunk of them).
fn general(
    u: &[&[f64]],
    v: &mut [&mut [f64]],
    w: &mut [f64],
    xi_prev: &[f64],
    xi: &[f64],
    coef: Option<&Coef<'_>>,
) -> Overlaps {
    let d = u.len();
    if let Some(c) = coef {
        for i in 0..w.len() {
            let wo = w[i];
            let mut wn = c.kw * wo + c.cxi * xi_prev[i];
            for j in 0..d {
                let vo = v[j][i];
                wn += c.cu[j] * u[j][i] + c.cv[j] * vo;
                v[j][i] = c.bv[j] * vo + c.bw[j] * wo;
            }
            w[i] = wn;
        }
    }
    let dot = |a: &[f64]| a.iter().zip(xi).map(|(p, q)| p * q).sum::<f64>();
    Overlaps {
        u: u.iter().map(|c| dot(c)).collect(),
        v: v.iter().map(|c| dot(c)).collect(),
        w: dot(w),
        xx: dot(xi),
    }
}

/// Lanes of the fused generator.
pub(crate) const ZL: usize = 8;

/// The fast step's normal generator: eight xoshiro256++ streams in structure-of-arrays
/// form feeding the 256-layer ziggurat (exact normals, one block of eight at a time, lane l
/// giving element l of each block), plus an auxiliary stream that finishes the rare
/// rejected candidates in lane order. Portable and AVX-512 code produce the same bits.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LaneRng {
    s: [[u64; ZL]; 4],
    aux: [u64; 4],
}

impl LaneRng {
    /// Lane l starts from `rng`'s state jumped `l + 1` times, the auxiliary stream from it
    /// jumped 9 times (2^128 draws apart: no overlap with each other or with `rng`).
    pub fn new(rng: &hdgan_model::random::SimRng) -> Self {
        let mut st = rng.state();
        let mut s = [[0u64; ZL]; 4];
        for l in 0..ZL {
            st = hdgan_model::random::jump(st);
            for w in 0..4 {
                s[w][l] = st[w];
            }
        }
        Self {
            s,
            aux: hdgan_model::random::jump(st),
        }
    }

    /// One block of eight standard normals (the portable reference).
    #[inline(always)]
    pub(crate) fn block(&mut self) -> [f64; ZL] {
        let x_tab = hdgan_model::random::ziggurat_layers();
        let mut r = [0u64; ZL];
        let [s0, s1, s2, s3] = &mut self.s;
        for l in 0..ZL {
            r[l] = s0[l]
                .wrapping_add(s3[l])
                .rotate_left(23)
                .wrapping_add(s0[l]);
            let t = s1[l] << 17;
            s2[l] ^= s0[l];
            s3[l] ^= s1[l];
            s1[l] ^= s2[l];
            s0[l] ^= s3[l];
            s2[l] ^= t;
            s3[l] = s3[l].rotate_left(45);
        }
        let mut x = [0.0; ZL];
        for l in 0..ZL {
            let i = (r[l] & 0xff) as usize;
            let u = f64::from_bits((r[l] >> 12) | 0x4000_0000_0000_0000) - 3.0;
            x[l] = u * x_tab[i];
        }
        for l in 0..ZL {
            let i = (r[l] & 0xff) as usize;
            if x[l].abs() >= x_tab[i + 1] {
                x[l] = hdgan_model::random::ziggurat_finish(&mut self.aux, r[l]);
            }
        }
        x
    }

    /// Fills `out` with normals: whole blocks, the last one cut (AVX-512 or AVX2 where
    /// available, same bits).
    pub fn fill(&mut self, out: &mut [f64]) {
        self.fill_with(Kernel::best(), out);
    }

    /// [`LaneRng::fill`] with `kernel` (one the CPU supports); every kernel gives the same
    /// bits.
    pub(crate) fn fill_with(&mut self, kernel: Kernel, out: &mut [f64]) {
        let full = out.len() - out.len() % ZL;
        match kernel {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => {
                assert!(std::is_x86_feature_detected!("avx512f"));
                // SAFETY: the CPU supports AVX-512F (asserted just above).
                #[allow(unsafe_code)]
                unsafe {
                    fill_avx512(self, &mut out[..full]);
                }
            }
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => {
                assert!(std::is_x86_feature_detected!("avx2"));
                // SAFETY: the CPU supports AVX2 (asserted just above).
                #[allow(unsafe_code)]
                unsafe {
                    fill_avx2(self, &mut out[..full]);
                }
            }
            _ => {
                for chunk in out[..full].chunks_exact_mut(ZL) {
                    chunk.copy_from_slice(&self.block());
                }
            }
        }
        let rest = &mut out[full..];
        if !rest.is_empty() {
            let b = self.block();
            let k = rest.len();
            rest.copy_from_slice(&b[..k]);
        }
    }
}

/// Accumulators of the fused pass, one per lane.
struct Acc<const D: usize> {
    u: [[f64; ZL]; D],
    v: [[f64; ZL]; D],
    w: [f64; ZL],
    x: [f64; ZL],
}

/// The fused pass for one element `i` on lane `l` with normal `x` (portable reference of
/// the AVX-512 kernel's arithmetic, operation for operation).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn fused_elem<const D: usize>(
    i: usize,
    l: usize,
    x: f64,
    u: &[&[f64]; D],
    v: &mut [&mut [f64]; D],
    w: &mut [f64],
    buf: &mut [f64],
    c: &CoefArr<D>,
    acc: &mut Acc<D>,
) {
    let xp = buf[i];
    buf[i] = x;
    let wo = w[i];
    let mut wn = c.kw * wo + c.cxi * xp;
    for j in 0..D {
        let vo = v[j][i];
        let uj = u[j][i];
        wn += c.cu[j] * uj + c.cv[j] * vo;
        let vn = c.bv[j] * vo + c.bw[j] * wo;
        v[j][i] = vn;
        acc.u[j][l] += uj * x;
        acc.v[j][l] += vn * x;
    }
    w[i] = wn;
    acc.w[l] += wn * x;
    acc.x[l] += x * x;
}

/// Pending-update coefficients as fixed arrays (identity when there is no update).
struct CoefArr<const D: usize> {
    cu: [f64; D],
    cv: [f64; D],
    bv: [f64; D],
    bw: [f64; D],
    kw: f64,
    cxi: f64,
}

impl<const D: usize> CoefArr<D> {
    fn from(coef: Option<&Coef<'_>>) -> Self {
        match coef {
            Some(c) => Self {
                cu: std::array::from_fn(|j| c.cu[j]),
                cv: std::array::from_fn(|j| c.cv[j]),
                bv: std::array::from_fn(|j| c.bv[j]),
                bw: std::array::from_fn(|j| c.bw[j]),
                kw: c.kw,
                cxi: c.cxi,
            },
            // Identity: 1 w + 0 xi_prev = w and 1 v + 0 w = v exactly (finite values).
            None => Self {
                cu: [0.0; D],
                cv: [0.0; D],
                bv: [1.0; D],
                bw: [0.0; D],
                kw: 1.0,
                cxi: 0.0,
            },
        }
    }
}

/// Which implementation of the fused pass runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// Portable code.
    Portable,
    /// AVX2 intrinsics (x86-64).
    Avx2,
    /// AVX-512F intrinsics (x86-64).
    Avx512,
}

impl Kernel {
    /// The fastest kernel this CPU supports.
    pub(crate) fn best() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") {
                return Kernel::Avx512;
            }
            if std::is_x86_feature_detected!("avx2") {
                return Kernel::Avx2;
            }
        }
        Kernel::Portable
    }

    /// Every kernel this CPU supports.
    #[cfg(test)]
    pub(crate) fn available() -> Vec<Self> {
        let mut v = vec![Kernel::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") {
                v.push(Kernel::Avx2);
            }
            if std::is_x86_feature_detected!("avx512f") {
                v.push(Kernel::Avx512);
            }
        }
        v
    }
}

/// Vector length from which the fused pass is split into chunks of [`CHUNK`] elements, each
/// with its own lane generator (chunk `k`'s streams are the run's stream jumped `9 k` times
/// before [`LaneRng::new`]), run in parallel on the current thread pool and summed in chunk
/// order: the numbers depend on n, never on the thread count. Below it the pass is one
/// chunk (one [`LaneRng`]).
pub const SPLIT_N: usize = 1 << 16;

/// Elements per chunk of a split pass (a multiple of the 8 lanes).
pub const CHUNK: usize = 1 << 14;

/// The fast step's normal generators over an n-vector: one [`LaneRng`] per chunk of the
/// pass (a single one below [`SPLIT_N`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PassRng {
    chunks: Vec<LaneRng>,
}

impl PassRng {
    /// The generators of an n-vector pass, derived from `rng`'s state: chunk 0 is
    /// `LaneRng::new(rng)` (so an unsplit pass is the single-generator one), chunk `k` the
    /// same from the state jumped `9 k` times (a [`LaneRng`] uses jumps 1 to 9 of its
    /// start, so no two chunks share a stream).
    pub fn new(rng: &hdgan_model::random::SimRng, n: usize) -> Self {
        let count = Self::chunks_for(n);
        let mut st = rng.state();
        let chunks = (0..count)
            .map(|k| {
                if k > 0 {
                    for _ in 0..9 {
                        st = hdgan_model::random::jump(st);
                    }
                }
                LaneRng::new(&hdgan_model::random::SimRng::from_state(st))
            })
            .collect();
        Self { chunks }
    }

    /// Number of chunks of an n-vector pass.
    pub fn chunks_for(n: usize) -> usize {
        if n >= SPLIT_N { n.div_ceil(CHUNK) } else { 1 }
    }

    /// Number of chunks.
    pub fn chunks(&self) -> usize {
        self.chunks.len()
    }

    /// Fills `out` (length n) as the fused pass draws its normals: chunk by chunk, each
    /// from its own generator.
    pub fn fill(&mut self, out: &mut [f64]) {
        let len = if self.chunks.len() == 1 {
            out.len().max(1)
        } else {
            CHUNK
        };
        for (lanes, part) in self.chunks.iter_mut().zip(out.chunks_mut(len)) {
            lanes.fill(part);
        }
    }
}

/// The fused fast-step pass with `kernel` (one the CPU supports: [`Kernel::best`]): draws
/// the new xi from `rngs` block by block and, element by element, applies the pending
/// update (with the old xi from `buf`), stores the new xi in `buf`, and accumulates the
/// overlaps; `u`, `v` hold d columns of length n. Split into chunks for n >=
/// [`SPLIT_N`] (parallel, summed in chunk order). Every kernel gives the same bits, and so
/// does every thread count.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_fused(
    kernel: Kernel,
    d: usize,
    n: usize,
    u: &[f64],
    v: &mut [f64],
    w: &mut [f64],
    buf: &mut [f64],
    rngs: &mut PassRng,
    coef: Option<&Coef<'_>>,
) -> Overlaps {
    use rayon::prelude::*;
    let len = if rngs.chunks.len() == 1 {
        n.max(1)
    } else {
        CHUNK
    };
    let ucols: Vec<&[f64]> = u.chunks_exact(n).take(d).collect();
    let mut vcols: Vec<std::slice::ChunksMut<'_, f64>> = v
        .chunks_exact_mut(n)
        .take(d)
        .map(|c| c.chunks_mut(len))
        .collect();
    let mut tasks = Vec::with_capacity(rngs.chunks.len());
    let parts = w[..n].chunks_mut(len).zip(buf[..n].chunks_mut(len));
    for (k, (lanes, (wc, bc))) in rngs.chunks.iter_mut().zip(parts).enumerate() {
        let start = k * len;
        let uc: Vec<&[f64]> = ucols.iter().map(|c| &c[start..start + wc.len()]).collect();
        let vc: Vec<&mut [f64]> = vcols
            .iter_mut()
            .map(|it| it.next().expect("a chunk per column"))
            .collect();
        tasks.push((uc, vc, wc, bc, lanes));
    }
    let pass = |t: ChunkTask<'_>| chunk_pass(kernel, t.0, t.1, t.2, t.3, t.4, coef);
    let mut parts: Vec<Overlaps> = if tasks.len() == 1 {
        tasks.into_iter().map(pass).collect()
    } else {
        tasks.into_par_iter().map(pass).collect()
    };
    let mut total = parts.remove(0);
    for p in parts {
        for (a, b) in total.u.iter_mut().zip(&p.u) {
            *a += b;
        }
        for (a, b) in total.v.iter_mut().zip(&p.v) {
            *a += b;
        }
        total.w += p.w;
        total.xx += p.xx;
    }
    total
}

/// One chunk of a split pass: the column slices of `U` and `V`, of `w` and `buf`, and its
/// generator.
type ChunkTask<'a> = (
    Vec<&'a [f64]>,
    Vec<&'a mut [f64]>,
    &'a mut [f64],
    &'a mut [f64],
    &'a mut LaneRng,
);

/// The fused pass over one chunk: column slices of one length.
fn chunk_pass(
    kernel: Kernel,
    u: Vec<&[f64]>,
    v: Vec<&mut [f64]>,
    w: &mut [f64],
    buf: &mut [f64],
    lanes: &mut LaneRng,
    coef: Option<&Coef<'_>>,
) -> Overlaps {
    match u.len() {
        1 => fused::<1>(kernel, u, v, w, buf, lanes, coef),
        2 => fused::<2>(kernel, u, v, w, buf, lanes, coef),
        3 => fused::<3>(kernel, u, v, w, buf, lanes, coef),
        4 => fused::<4>(kernel, u, v, w, buf, lanes, coef),
        _ => {
            let mut v = v;
            let mut xi = vec![0.0; w.len()];
            lanes.fill_with(kernel, &mut xi);
            let o = general(&u, &mut v, w, buf, &xi, coef);
            buf.copy_from_slice(&xi);
            o
        }
    }
}

fn fused<const D: usize>(
    kernel: Kernel,
    u: Vec<&[f64]>,
    v: Vec<&mut [f64]>,
    w: &mut [f64],
    buf: &mut [f64],
    lanes: &mut LaneRng,
    coef: Option<&Coef<'_>>,
) -> Overlaps {
    let c = CoefArr::<D>::from(coef);
    let mut acc = Acc::<D> {
        u: [[0.0; ZL]; D],
        v: [[0.0; ZL]; D],
        w: [0.0; ZL],
        x: [0.0; ZL],
    };
    let n = w.len();
    let blocks = n / ZL;
    let u: [&[f64]; D] = std::array::from_fn(|j| u[j]);
    let mut vit = v.into_iter();
    let mut v: [&mut [f64]; D] = std::array::from_fn(|_| vit.next().expect("V has d columns"));
    let buf = &mut buf[..n];
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => {
            assert!(std::is_x86_feature_detected!("avx512f"));
            // SAFETY: the CPU supports AVX-512F (asserted just above); the kernel touches
            // only elements 0..blocks*8 of slices of length n (asserted inside).
            #[allow(unsafe_code)]
            unsafe {
                fused_avx512::<D>(blocks, &u, &mut v, w, buf, lanes, &c, &mut acc);
            }
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => {
            assert!(std::is_x86_feature_detected!("avx2"));
            // SAFETY: the CPU supports AVX2 (asserted just above); the kernel touches only
            // elements 0..blocks*8 of slices of length n (asserted inside).
            #[allow(unsafe_code)]
            unsafe {
                fused_avx2::<D>(blocks, &u, &mut v, w, buf, lanes, &c, &mut acc);
            }
        }
        _ => portable_blocks::<D>(blocks, &u, &mut v, w, buf, lanes, &c, &mut acc),
    }
    if !n.is_multiple_of(ZL) {
        let x = lanes.block();
        for (l, i) in (blocks * ZL..n).enumerate() {
            fused_elem::<D>(i, l, x[l], &u, &mut v, w, buf, &c, &mut acc);
        }
    }
    let sum = |a: &[f64; ZL]| ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    Overlaps {
        u: acc.u.iter().map(sum).collect(),
        v: acc.v.iter().map(sum).collect(),
        w: sum(&acc.w),
        xx: sum(&acc.x),
    }
}

/// The whole blocks of the fused pass, portable code (the reference of the kernels).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn portable_blocks<const D: usize>(
    blocks: usize,
    u: &[&[f64]; D],
    v: &mut [&mut [f64]; D],
    w: &mut [f64],
    buf: &mut [f64],
    lanes: &mut LaneRng,
    c: &CoefArr<D>,
    acc: &mut Acc<D>,
) {
    for b in 0..blocks {
        let x = lanes.block();
        for (l, &xl) in x.iter().enumerate() {
            fused_elem::<D>(b * ZL + l, l, xl, u, v, w, buf, c, acc);
        }
    }
}

/// The fused kernel with AVX2: each block of eight as two halves of four lanes (lanes
/// 0-3 on elements 0-3, lanes 4-7 on elements 4-7), same operations and rejection order as
/// [`portable_blocks`], hence the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(unsafe_code, clippy::too_many_arguments)]
fn fused_avx2<const D: usize>(
    blocks: usize,
    u: &[&[f64]; D],
    v: &mut [&mut [f64]; D],
    w: &mut [f64],
    buf: &mut [f64],
    lanes: &mut LaneRng,
    c: &CoefArr<D>,
    acc: &mut Acc<D>,
) {
    use std::arch::x86_64::*;
    let m = blocks * ZL;
    assert!(w.len() >= m && buf.len() >= m && (0..D).all(|j| u[j].len() >= m && v[j].len() >= m));
    // SAFETY: for the whole body: loads and stores are of 4 consecutive f64 at offsets
    // b * 8 + 4 h + 4 <= m (asserted above) or of local arrays; the generator's contract
    // (AVX2 available) holds in this `target_feature(enable = "avx2")` function.
    unsafe {
        let mut gen256 = Gen256::load(lanes);
        let cu: [__m256d; D] = std::array::from_fn(|j| _mm256_set1_pd(c.cu[j]));
        let cv: [__m256d; D] = std::array::from_fn(|j| _mm256_set1_pd(c.cv[j]));
        let bv: [__m256d; D] = std::array::from_fn(|j| _mm256_set1_pd(c.bv[j]));
        let bw: [__m256d; D] = std::array::from_fn(|j| _mm256_set1_pd(c.bw[j]));
        let (kw, cxi) = (_mm256_set1_pd(c.kw), _mm256_set1_pd(c.cxi));
        let ld2 = |a: &[f64; ZL]| {
            [
                _mm256_loadu_pd(a.as_ptr()),
                _mm256_loadu_pd(a.as_ptr().add(4)),
            ]
        };
        let mut au: [[__m256d; 2]; D] = std::array::from_fn(|j| ld2(&acc.u[j]));
        let mut av: [[__m256d; 2]; D] = std::array::from_fn(|j| ld2(&acc.v[j]));
        let mut aw = ld2(&acc.w);
        let mut ax = ld2(&acc.x);
        // Tiles of TILE blocks: first the tile's normals (generator state in registers),
        // then the pass over lanes 0-3 of every block, then over lanes 4-7, each with only
        // its own accumulators live (AVX2 has 16 registers; the whole block at once spilled
        // accumulators and generator state every iteration). Each lane still accumulates
        // its elements in block order, so the bits are the portable kernel's.
        const TILE: usize = 64;
        let mut tile = [0.0f64; TILE * ZL];
        let mut t0 = 0;
        while t0 < blocks {
            let nb = TILE.min(blocks - t0);
            for b in 0..nb {
                let x = gen256.next8(&mut lanes.aux);
                _mm256_storeu_pd(tile.as_mut_ptr().add(b * ZL), x[0]);
                _mm256_storeu_pd(tile.as_mut_ptr().add(b * ZL + 4), x[1]);
            }
            for h in 0..2 {
                let mut au_h: [__m256d; D] = std::array::from_fn(|j| au[j][h]);
                let mut av_h: [__m256d; D] = std::array::from_fn(|j| av[j][h]);
                let (mut aw_h, mut ax_h) = (aw[h], ax[h]);
                for b in 0..nb {
                    let o = (t0 + b) * ZL + 4 * h;
                    let xh = _mm256_loadu_pd(tile.as_ptr().add(b * ZL + 4 * h));
                    let xp = _mm256_loadu_pd(buf.as_ptr().add(o));
                    _mm256_storeu_pd(buf.as_mut_ptr().add(o), xh);
                    let wo = _mm256_loadu_pd(w.as_ptr().add(o));
                    let mut wn = _mm256_add_pd(_mm256_mul_pd(kw, wo), _mm256_mul_pd(cxi, xp));
                    for j in 0..D {
                        let vo = _mm256_loadu_pd(v[j].as_ptr().add(o));
                        let uj = _mm256_loadu_pd(u[j].as_ptr().add(o));
                        wn = _mm256_add_pd(
                            wn,
                            _mm256_add_pd(_mm256_mul_pd(cu[j], uj), _mm256_mul_pd(cv[j], vo)),
                        );
                        let vn = _mm256_add_pd(_mm256_mul_pd(bv[j], vo), _mm256_mul_pd(bw[j], wo));
                        _mm256_storeu_pd(v[j].as_mut_ptr().add(o), vn);
                        au_h[j] = _mm256_add_pd(au_h[j], _mm256_mul_pd(uj, xh));
                        av_h[j] = _mm256_add_pd(av_h[j], _mm256_mul_pd(vn, xh));
                    }
                    _mm256_storeu_pd(w.as_mut_ptr().add(o), wn);
                    aw_h = _mm256_add_pd(aw_h, _mm256_mul_pd(wn, xh));
                    ax_h = _mm256_add_pd(ax_h, _mm256_mul_pd(xh, xh));
                }
                for j in 0..D {
                    au[j][h] = au_h[j];
                    av[j][h] = av_h[j];
                }
                aw[h] = aw_h;
                ax[h] = ax_h;
            }
            t0 += nb;
        }
        let st2 = |dst: &mut [f64; ZL], a: [__m256d; 2]| {
            _mm256_storeu_pd(dst.as_mut_ptr(), a[0]);
            _mm256_storeu_pd(dst.as_mut_ptr().add(4), a[1]);
        };
        for j in 0..D {
            st2(&mut acc.u[j], au[j]);
            st2(&mut acc.v[j], av[j]);
        }
        st2(&mut acc.w, aw);
        st2(&mut acc.x, ax);
        gen256.store(lanes);
    }
}

/// The AVX2 lane generator: the eight xoshiro256++ states as two registers of four lanes
/// each (lanes 0-3, 4-7) and the ziggurat's fast test (see [`LaneRng::block`], whose bits
/// it reproduces).
#[cfg(target_arch = "x86_64")]
struct Gen256 {
    s: [[std::arch::x86_64::__m256i; 2]; 4],
    pairs: &'static [Pair; 256],
}

/// `(X[i], X[i + 1])`, the ziggurat layer's edge and the next, 16-byte aligned for one load.
#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct Pair([f64; 2]);

/// The table of [`Pair`]s.
fn layer_pairs() -> &'static [Pair; 256] {
    static PAIRS: std::sync::OnceLock<[Pair; 256]> = std::sync::OnceLock::new();
    PAIRS.get_or_init(|| {
        let x = hdgan_model::random::ziggurat_layers();
        std::array::from_fn(|i| Pair([x[i], x[i + 1]]))
    })
}

/// `a` rotated left by `L` bits (`R = 64 - L`), AVX2 having no 64-bit rotate.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(unsafe_code)]
unsafe fn rol256<const L: i32, const R: i32>(
    a: std::arch::x86_64::__m256i,
) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    // SAFETY: AVX2 is available (the caller's contract; Gen256::next8 is its only caller).
    unsafe { _mm256_or_si256(_mm256_slli_epi64::<L>(a), _mm256_srli_epi64::<R>(a)) }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
// SAFETY (every method): called only from `#[target_feature(enable = "avx2")]` functions,
// which run after the CPU was checked for AVX2; inlined into them.
impl Gen256 {
    /// # Safety
    /// The CPU must support AVX2.
    #[inline(always)]
    unsafe fn load(lanes: &LaneRng) -> Self {
        use std::arch::x86_64::*;
        // SAFETY: 4 u64 from offset 0 or 4 of an 8-element array; AVX2 is available.
        let ld =
            |a: &[u64; ZL], h: usize| unsafe { _mm256_loadu_si256(a.as_ptr().add(4 * h).cast()) };
        Self {
            s: std::array::from_fn(|w| [ld(&lanes.s[w], 0), ld(&lanes.s[w], 1)]),
            pairs: layer_pairs(),
        }
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[inline(always)]
    unsafe fn store(&self, lanes: &mut LaneRng) {
        use std::arch::x86_64::*;
        for (w, v) in self.s.iter().enumerate() {
            for (h, half) in v.iter().enumerate() {
                // SAFETY: 4 u64 at offset 0 or 4 of an 8-element array; AVX2 available.
                unsafe { _mm256_storeu_si256(lanes.s[w].as_mut_ptr().add(4 * h).cast(), *half) };
            }
        }
    }

    /// The next eight normals as lanes 0-3 and 4-7 (rejected candidates finished from
    /// `aux` in lane order).
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[inline(always)]
    unsafe fn next8(&mut self, aux: &mut [u64; 4]) -> [std::arch::x86_64::__m256d; 2] {
        use std::arch::x86_64::*;
        // SAFETY: AVX2 is available (the caller's contract); the pair loads read
        // `pairs[i]` with i = r & 0xff <= 255 from a table of 256 aligned pairs; the stores
        // and loads are of 4- or 8-element local arrays.
        unsafe {
            let low8 = _mm256_set1_epi64x(0xff);
            let expo = _mm256_set1_epi64x(0x4000_0000_0000_0000);
            let three = _mm256_set1_pd(3.0);
            let absmask = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fff_ffff_ffff_ffff));
            let pairs = self.pairs;
            let [s0, s1, s2, s3] = &mut self.s;
            let mut x = [_mm256_setzero_pd(); 2];
            let mut r = [_mm256_setzero_si256(); 2];
            let mut bad = 0i32;
            for h in 0..2 {
                let rh = _mm256_add_epi64(rol256::<23, 41>(_mm256_add_epi64(s0[h], s3[h])), s0[h]);
                let t = _mm256_slli_epi64::<17>(s1[h]);
                s2[h] = _mm256_xor_si256(s2[h], s0[h]);
                s3[h] = _mm256_xor_si256(s3[h], s1[h]);
                s1[h] = _mm256_xor_si256(s1[h], s2[h]);
                s0[h] = _mm256_xor_si256(s0[h], s3[h]);
                s2[h] = _mm256_xor_si256(s2[h], t);
                s3[h] = rol256::<45, 19>(s3[h]);
                let i = _mm256_and_si256(rh, low8);
                let uu = _mm256_sub_pd(
                    _mm256_castsi256_pd(_mm256_or_si256(_mm256_srli_epi64::<12>(rh), expo)),
                    three,
                );
                // X[i] and X[i + 1] per lane from the table of pairs: four 16-byte loads
                // and two unpacks (cheaper than two gathers on AMD Zen 3).
                let mut idx = [0u64; 4];
                _mm256_storeu_si256(idx.as_mut_ptr().cast(), i);
                let pr = |k: usize| _mm_load_pd(pairs[idx[k] as usize].0.as_ptr());
                let (p0, p1, p2, p3) = (pr(0), pr(1), pr(2), pr(3));
                let xt = _mm256_insertf128_pd::<1>(
                    _mm256_castpd128_pd256(_mm_unpacklo_pd(p0, p1)),
                    _mm_unpacklo_pd(p2, p3),
                );
                let xn = _mm256_insertf128_pd::<1>(
                    _mm256_castpd128_pd256(_mm_unpackhi_pd(p0, p1)),
                    _mm_unpackhi_pd(p2, p3),
                );
                let xh = _mm256_mul_pd(uu, xt);
                let ok = _mm256_cmp_pd::<_CMP_LT_OQ>(_mm256_and_pd(xh, absmask), xn);
                bad |= (!_mm256_movemask_pd(ok) & 0xf) << (4 * h);
                x[h] = xh;
                r[h] = rh;
            }
            if bad != 0 {
                let mut xs = [0.0f64; ZL];
                let mut rr = [0u64; ZL];
                for h in 0..2 {
                    _mm256_storeu_pd(xs.as_mut_ptr().add(4 * h), x[h]);
                    _mm256_storeu_si256(rr.as_mut_ptr().add(4 * h).cast(), r[h]);
                }
                for l in 0..ZL {
                    if bad & (1 << l) != 0 {
                        xs[l] = hdgan_model::random::ziggurat_finish(aux, rr[l]);
                    }
                }
                x = [
                    _mm256_loadu_pd(xs.as_ptr()),
                    _mm256_loadu_pd(xs.as_ptr().add(4)),
                ];
            }
            x
        }
    }
}

/// [`LaneRng::fill`]'s whole blocks with AVX2 (same bits as the portable blocks).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(unsafe_code)]
fn fill_avx2(lanes: &mut LaneRng, out: &mut [f64]) {
    use std::arch::x86_64::*;
    // SAFETY: this function is compiled for and only called on AVX2 CPUs; each chunk has
    // exactly 8 elements.
    unsafe {
        let mut gen256 = Gen256::load(lanes);
        for chunk in out.chunks_exact_mut(ZL) {
            let x = gen256.next8(&mut lanes.aux);
            _mm256_storeu_pd(chunk.as_mut_ptr(), x[0]);
            _mm256_storeu_pd(chunk.as_mut_ptr().add(4), x[1]);
        }
        gen256.store(lanes);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(unsafe_code, clippy::too_many_arguments)]
fn fused_avx512<const D: usize>(
    blocks: usize,
    u: &[&[f64]; D],
    v: &mut [&mut [f64]; D],
    w: &mut [f64],
    buf: &mut [f64],
    lanes: &mut LaneRng,
    c: &CoefArr<D>,
    acc: &mut Acc<D>,
) {
    use std::arch::x86_64::*;
    let m = blocks * ZL;
    assert!(w.len() >= m && buf.len() >= m && (0..D).all(|j| u[j].len() >= m && v[j].len() >= m));
    // SAFETY: for the whole body: every load and store is of 8 consecutive f64 at offsets
    // b * 8 < m (asserted above) or of local 8-element arrays; the generator's contract
    // (AVX-512F available) holds in this `target_feature(enable = "avx512f")` function.
    unsafe {
        let mut g512 = Gen512::load(lanes);
        let cu: [__m512d; D] = std::array::from_fn(|j| _mm512_set1_pd(c.cu[j]));
        let cv: [__m512d; D] = std::array::from_fn(|j| _mm512_set1_pd(c.cv[j]));
        let bv: [__m512d; D] = std::array::from_fn(|j| _mm512_set1_pd(c.bv[j]));
        let bw: [__m512d; D] = std::array::from_fn(|j| _mm512_set1_pd(c.bw[j]));
        let (kw, cxi) = (_mm512_set1_pd(c.kw), _mm512_set1_pd(c.cxi));
        let mut au: [__m512d; D] = std::array::from_fn(|j| _mm512_loadu_pd(acc.u[j].as_ptr()));
        let mut av: [__m512d; D] = std::array::from_fn(|j| _mm512_loadu_pd(acc.v[j].as_ptr()));
        let mut aw = _mm512_loadu_pd(acc.w.as_ptr());
        let mut ax = _mm512_loadu_pd(acc.x.as_ptr());
        for b in 0..blocks {
            let o = b * ZL;
            let x = g512.next8(&mut lanes.aux);
            // The pass on elements o..o+8.
            let xp = _mm512_loadu_pd(buf.as_ptr().add(o));
            _mm512_storeu_pd(buf.as_mut_ptr().add(o), x);
            let wo = _mm512_loadu_pd(w.as_ptr().add(o));
            let mut wn = _mm512_add_pd(_mm512_mul_pd(kw, wo), _mm512_mul_pd(cxi, xp));
            for j in 0..D {
                let vo = _mm512_loadu_pd(v[j].as_ptr().add(o));
                let uj = _mm512_loadu_pd(u[j].as_ptr().add(o));
                wn = _mm512_add_pd(
                    wn,
                    _mm512_add_pd(_mm512_mul_pd(cu[j], uj), _mm512_mul_pd(cv[j], vo)),
                );
                let vn = _mm512_add_pd(_mm512_mul_pd(bv[j], vo), _mm512_mul_pd(bw[j], wo));
                _mm512_storeu_pd(v[j].as_mut_ptr().add(o), vn);
                au[j] = _mm512_add_pd(au[j], _mm512_mul_pd(uj, x));
                av[j] = _mm512_add_pd(av[j], _mm512_mul_pd(vn, x));
            }
            _mm512_storeu_pd(w.as_mut_ptr().add(o), wn);
            aw = _mm512_add_pd(aw, _mm512_mul_pd(wn, x));
            ax = _mm512_add_pd(ax, _mm512_mul_pd(x, x));
        }
        for j in 0..D {
            _mm512_storeu_pd(acc.u[j].as_mut_ptr(), au[j]);
            _mm512_storeu_pd(acc.v[j].as_mut_ptr(), av[j]);
        }
        _mm512_storeu_pd(acc.w.as_mut_ptr(), aw);
        _mm512_storeu_pd(acc.x.as_mut_ptr(), ax);
        g512.store(lanes);
    }
}

/// The AVX-512 lane generator: eight xoshiro256++ states in registers and the ziggurat's
/// constants (see [`LaneRng::block`], whose bits it reproduces).
#[cfg(target_arch = "x86_64")]
struct Gen512 {
    s: [std::arch::x86_64::__m512i; 4],
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
// SAFETY (every method): called only from `#[target_feature(enable = "avx512f")]`
// functions, which run after the CPU was checked for AVX-512F; inlined into them.
impl Gen512 {
    /// # Safety
    /// The CPU must support AVX-512F.
    #[inline(always)]
    unsafe fn load(lanes: &LaneRng) -> Self {
        use std::arch::x86_64::*;
        // SAFETY: each `lanes.s[w]` is 8 u64, the width of one unaligned 512-bit load;
        // AVX-512F is available (the caller's contract).
        let ld = |a: &[u64; ZL]| unsafe { _mm512_loadu_si512(a.as_ptr().cast()) };
        Self {
            s: [
                ld(&lanes.s[0]),
                ld(&lanes.s[1]),
                ld(&lanes.s[2]),
                ld(&lanes.s[3]),
            ],
        }
    }

    /// # Safety
    /// The CPU must support AVX-512F.
    #[inline(always)]
    unsafe fn store(&self, lanes: &mut LaneRng) {
        use std::arch::x86_64::*;
        for (w, v) in self.s.iter().enumerate() {
            // SAFETY: each `lanes.s[w]` is 8 u64, one unaligned 512-bit store; AVX-512F is
            // available (the caller's contract).
            unsafe { _mm512_storeu_si512(lanes.s[w].as_mut_ptr().cast(), *v) };
        }
    }

    /// The next eight normals (rejected candidates finished from `aux` in lane order).
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[inline(always)]
    unsafe fn next8(&mut self, aux: &mut [u64; 4]) -> std::arch::x86_64::__m512d {
        use std::arch::x86_64::*;
        let x_tab = hdgan_model::random::ziggurat_layers();
        // SAFETY: AVX-512F is available (the caller's contract); the gathers read X[i] and
        // X[i + 1] with i = r & 0xff <= 255 and X of length 257; the stores and loads are
        // of 8-element local arrays.
        unsafe {
            let [s0, s1, s2, s3] = &mut self.s;
            let r = _mm512_add_epi64(_mm512_rol_epi64::<23>(_mm512_add_epi64(*s0, *s3)), *s0);
            let t = _mm512_slli_epi64::<17>(*s1);
            *s2 = _mm512_xor_si512(*s2, *s0);
            *s3 = _mm512_xor_si512(*s3, *s1);
            *s1 = _mm512_xor_si512(*s1, *s2);
            *s0 = _mm512_xor_si512(*s0, *s3);
            *s2 = _mm512_xor_si512(*s2, t);
            *s3 = _mm512_rol_epi64::<45>(*s3);
            let i = _mm512_and_si512(r, _mm512_set1_epi64(0xff));
            let uu = _mm512_sub_pd(
                _mm512_castsi512_pd(_mm512_or_si512(
                    _mm512_srli_epi64::<12>(r),
                    _mm512_set1_epi64(0x4000_0000_0000_0000),
                )),
                _mm512_set1_pd(3.0),
            );
            let xt = _mm512_i64gather_pd::<8>(i, x_tab.as_ptr());
            let xn = _mm512_i64gather_pd::<8>(i, x_tab.as_ptr().add(1));
            let x = _mm512_mul_pd(uu, xt);
            let ax = _mm512_castsi512_pd(_mm512_and_si512(
                _mm512_castpd_si512(x),
                _mm512_set1_epi64(0x7fff_ffff_ffff_ffff),
            ));
            let ok = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(ax, xn);
            if ok == 0xff {
                return x;
            }
            let mut xs = [0.0f64; ZL];
            let mut rr = [0u64; ZL];
            _mm512_storeu_pd(xs.as_mut_ptr(), x);
            _mm512_storeu_si512(rr.as_mut_ptr().cast(), r);
            for l in 0..ZL {
                if ok & (1 << l) == 0 {
                    xs[l] = hdgan_model::random::ziggurat_finish(aux, rr[l]);
                }
            }
            _mm512_loadu_pd(xs.as_ptr())
        }
    }
}

/// [`LaneRng::fill`]'s whole blocks with AVX-512 (same bits as the portable blocks).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(unsafe_code)]
fn fill_avx512(lanes: &mut LaneRng, out: &mut [f64]) {
    use std::arch::x86_64::*;
    // SAFETY: this function is compiled for and only called on AVX-512F CPUs; each chunk
    // has exactly 8 elements.
    unsafe {
        let mut g512 = Gen512::load(lanes);
        for chunk in out.chunks_exact_mut(ZL) {
            let x = g512.next8(&mut lanes.aux);
            _mm512_storeu_pd(chunk.as_mut_ptr(), x);
        }
        g512.store(lanes);
    }
}

#[cfg(test)]
mod fused_tests {
    use super::*;
    use hdgan_model::random::stream_rng;

    /// Every kernel the CPU supports gives the portable kernel's bits (vectors, overlaps,
    /// normals with rejections, generator state), and the portable kernel equals a plain
    /// evaluation of the update with `LaneRng::fill` normals; d = 1..4, n not a multiple
    /// of 8, with and without a pending update. The normals have mean 0 and variance 1.
    #[test]
    fn kernels_are_bit_identical_and_equal_the_plain_update() {
        let bits = |x: &[f64]| x.iter().map(|y| y.to_bits()).collect::<Vec<_>>();
        for d in 1..=4usize {
            let n = 8 * 300 + 5;
            let f = |k: usize| ((k * 7919 + d * 31) % 1000) as f64 / 500.0 - 1.0;
            let u: Vec<f64> = (0..n * d).map(f).collect();
            let v0: Vec<f64> = (0..n * d).map(|k| f(k + 3)).collect();
            let w0: Vec<f64> = (0..n).map(|k| f(k + 11)).collect();
            let b0: Vec<f64> = (0..n).map(|k| f(k + 17)).collect();
            let cu: Vec<f64> = (0..d).map(|j| 0.1 * j as f64 - 0.2).collect();
            let cv: Vec<f64> = (0..d).map(|j| 0.05 * j as f64 + 0.01).collect();
            let bv: Vec<f64> = (0..d).map(|j| 1.0 - 0.01 * j as f64).collect();
            let bw: Vec<f64> = (0..d).map(|j| 0.02 * j as f64).collect();
            let c = Coef {
                cu: &cu,
                cv: &cv,
                bv: &bv,
                bw: &bw,
                kw: 0.97,
                cxi: 0.03,
            };
            for coef in [None, Some(&c)] {
                let lanes0 = PassRng::new(&stream_rng(4, d as u64), n);
                let run = |kernel: Kernel| {
                    let (mut v, mut w, mut b, mut l) =
                        (v0.clone(), w0.clone(), b0.clone(), lanes0.clone());
                    let o = run_fused(kernel, d, n, &u, &mut v, &mut w, &mut b, &mut l, coef);
                    (o, v, w, b, l)
                };
                let (po, pv, pw, pb, pl) = run(Kernel::Portable);
                for kernel in Kernel::available() {
                    let (o, v, w, b, l) = run(kernel);
                    let tag = format!("d = {d}, {kernel:?}");
                    assert_eq!(bits(&b), bits(&pb), "normals, {tag}");
                    assert_eq!(l, pl, "generator state, {tag}");
                    assert_eq!(bits(&v), bits(&pv), "V, {tag}");
                    assert_eq!(bits(&w), bits(&pw), "w, {tag}");
                    assert_eq!(bits(&o.u), bits(&po.u), "U^T xi, {tag}");
                    assert_eq!(bits(&o.v), bits(&po.v), "V^T xi, {tag}");
                    assert_eq!(
                        (o.w.to_bits(), o.xx.to_bits()),
                        (po.w.to_bits(), po.xx.to_bits())
                    );
                }
                // Portable kernel vs a plain evaluation (sums in another order).
                let (mut v2, mut w2, b2) = (v0.clone(), w0.clone(), b0.clone());
                let mut l2 = lanes0.clone();
                let mut xi = vec![0.0; n];
                l2.fill(&mut xi);
                let ucols: Vec<&[f64]> = u.chunks_exact(n).collect();
                let mut vcols: Vec<&mut [f64]> = v2.chunks_exact_mut(n).collect();
                let want = general(&ucols, &mut vcols, &mut w2, &b2, &xi, coef);
                assert_eq!(bits(&pb), bits(&xi));
                assert_eq!(pl, l2);
                assert_eq!(bits(&pv), bits(&v2));
                assert_eq!(bits(&pw), bits(&w2));
                for (a, b) in po.u.iter().zip(&want.u).chain(po.v.iter().zip(&want.v)) {
                    assert!((a - b).abs() < 1e-10, "d = {d}: {a} vs {b}");
                }
                assert!((po.xx - want.xx).abs() < 1e-9 && (po.w - want.w).abs() < 1e-10);
                let m = xi.iter().sum::<f64>() / n as f64;
                let var = xi.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n as f64;
                assert!(
                    m.abs() < 5.0 / (n as f64).sqrt()
                        && (var - 1.0).abs() < 5.0 * (2.0 / n as f64).sqrt()
                );
            }
        }
    }
}

#[cfg(test)]
mod split_tests {
    use super::*;
    use hdgan_model::random::stream_rng;

    /// A split pass (n >= SPLIT_N, last chunk short and not a multiple of 8) gives the same
    /// bits on 1, 2 and 3 threads; its normals are `PassRng::fill`'s (chunk k from its own
    /// generator, distinct from chunk 0's), and its overlaps equal a plain evaluation.
    #[test]
    fn split_pass_is_the_same_for_any_thread_count() {
        let (d, n) = (2usize, SPLIT_N + 8 * 3 + 5);
        assert_eq!(PassRng::chunks_for(n), 5);
        let f = |k: usize| ((k * 7919 + 31) % 1000) as f64 / 500.0 - 1.0;
        let u: Vec<f64> = (0..n * d).map(f).collect();
        let v0: Vec<f64> = (0..n * d).map(|k| f(k + 3)).collect();
        let w0: Vec<f64> = (0..n).map(|k| f(k + 11)).collect();
        let b0: Vec<f64> = (0..n).map(|k| f(k + 17)).collect();
        let (cu, cv, bv, bw) = ([0.1, -0.2], [0.05, 0.01], [0.99, 0.98], [0.02, 0.01]);
        let c = Coef {
            cu: &cu,
            cv: &cv,
            bv: &bv,
            bw: &bw,
            kw: 0.97,
            cxi: 0.03,
        };
        let rngs0 = PassRng::new(&stream_rng(5, 0), n);
        let bits = |x: &[f64]| x.iter().map(|y| y.to_bits()).collect::<Vec<_>>();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let (mut v, mut w, mut b, mut r) = (v0.clone(), w0.clone(), b0.clone(), rngs0.clone());
            let o = pool.install(|| {
                run_fused(
                    Kernel::best(),
                    d,
                    n,
                    &u,
                    &mut v,
                    &mut w,
                    &mut b,
                    &mut r,
                    Some(&c),
                )
            });
            (
                bits(&o.u),
                bits(&o.v),
                o.w.to_bits(),
                o.xx.to_bits(),
                bits(&v),
                bits(&w),
                bits(&b),
                r,
            )
        };
        let one = run(1);
        assert_eq!(run(2), one);
        assert_eq!(run(3), one);
        let mut xi = vec![0.0; n];
        let mut r = rngs0.clone();
        r.fill(&mut xi);
        assert_eq!(bits(&xi), one.6);
        assert_eq!(r, one.7);
        assert_ne!(bits(&xi[..CHUNK]), bits(&xi[CHUNK..2 * CHUNK]));
        let (mut v2, mut w2) = (v0.clone(), w0.clone());
        let ucols: Vec<&[f64]> = u.chunks_exact(n).collect();
        let mut vcols: Vec<&mut [f64]> = v2.chunks_exact_mut(n).collect();
        let want = general(&ucols, &mut vcols, &mut w2, &b0, &xi, Some(&c));
        let (mut v, mut w, mut b, mut r) = (v0.clone(), w0.clone(), b0.clone(), rngs0.clone());
        let o = run_fused(
            Kernel::best(),
            d,
            n,
            &u,
            &mut v,
            &mut w,
            &mut b,
            &mut r,
            Some(&c),
        );
        assert!((o.xx - want.xx).abs() < 1e-8 && (o.w - want.w).abs() < 1e-8);
        for (a, b) in o.u.iter().zip(&want.u).chain(o.v.iter().zip(&want.v)) {
            assert!((a - b).abs() < 1e-8, "{a} vs {b}");
        }
    }
}

#[cfg(test)]
mod fill_tests {
    use super::*;
    use hdgan_model::random::stream_rng;

    /// The normals-only fill gives the portable generator's bits with every kernel the CPU
    /// supports (with rejections and a cut last block), and leaves the same state.
    #[test]
    fn fills_are_bit_identical_across_kernels() {
        let n = 8 * 5000 + 3;
        let want = {
            let mut l = LaneRng::new(&stream_rng(9, 1));
            let mut x = vec![0.0; n];
            l.fill_with(Kernel::Portable, &mut x);
            (x.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), l)
        };
        for kernel in Kernel::available() {
            let mut l = LaneRng::new(&stream_rng(9, 1));
            let mut x = vec![0.0; n];
            l.fill_with(kernel, &mut x);
            let bits: Vec<u64> = x.iter().map(|v| v.to_bits()).collect();
            assert_eq!(bits, want.0, "{kernel:?}");
            assert_eq!(l, want.1, "{kernel:?}");
        }
    }
}

#[cfg(test)]
mod lane_normals_tests {
    use super::*;
    use hdgan_model::random::stream_rng;

    /// 200,000 lane normals against the standard normal: Kolmogorov-Smirnov statistic
    /// sqrt(n) D below 1.63 (the 1% critical value), fourth moment within 5 SE of 3
    /// (Var x^4 = 96), and |x| > 3 at the rate 0.0027 within 5 SE.
    #[test]
    fn lane_normals_are_standard_normal() {
        let n = 200_000;
        let mut x = vec![0.0; n];
        LaneRng::new(&stream_rng(1, 0)).fill(&mut x);
        let nf = n as f64;
        let m4 = x.iter().map(|v| v.powi(4)).sum::<f64>() / nf;
        assert!((m4 - 3.0).abs() < 5.0 * (96.0 / nf).sqrt(), "m4 = {m4}");
        let p3 = 0.002_699_796;
        let big = x.iter().filter(|v| v.abs() > 3.0).count() as f64 / nf;
        assert!(
            (big - p3).abs() < 5.0 * (p3 * (1.0 - p3) / nf).sqrt(),
            "{big}"
        );
        x.sort_by(f64::total_cmp);
        let phi = hdgan_core::stats::normal_cdf;
        let d = x
            .iter()
            .enumerate()
            .map(|(k, &v)| {
                let f = phi(v);
                (f - k as f64 / nf)
                    .abs()
                    .max((f - (k + 1) as f64 / nf).abs())
            })
            .fold(0.0, f64::max);
        assert!(d * nf.sqrt() < 1.63, "KS sqrt(n) D = {}", d * nf.sqrt());
    }
}
