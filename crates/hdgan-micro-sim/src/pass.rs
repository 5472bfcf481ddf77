//! The fast step's streaming pass (see [`crate::Sgda`]): apply the previous step's update
//! to the stored `V` and `w` (it uses the previous normal vector `xi_prev`) and accumulate
//! the overlaps of the new normal vector `xi` with `U`, the updated `V` and `w`, and
//! `|xi|^2`, in one pass over the n-vectors.
//!
//! The arithmetic is written once, over blocks of [`LANES`] elements with one accumulator
//! per lane (summed in a fixed order at the end), without fused multiply-adds. It is
//! compiled twice: portably, and with AVX2 enabled, chosen at run time. Both builds perform
//! the same floating-point operations in the same order, so they give bit-identical
//! results on every machine; the AVX2 build lets the compiler use 4-wide registers.

/// Elements per block (one accumulator each).
pub(crate) const LANES: usize = 4;

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

/// Runs the pass for `d` features on vectors of length `n` (`u`, `v` column-major n x d).
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    d: usize,
    n: usize,
    u: &[f64],
    v: &mut [f64],
    w: &mut [f64],
    xi_prev: &[f64],
    xi: &[f64],
    coef: Option<&Coef<'_>>,
) -> Overlaps {
    match d {
        1 => dispatch::<1>(n, u, v, w, xi_prev, xi, coef),
        2 => dispatch::<2>(n, u, v, w, xi_prev, xi, coef),
        3 => dispatch::<3>(n, u, v, w, xi_prev, xi, coef),
        4 => dispatch::<4>(n, u, v, w, xi_prev, xi, coef),
        _ => general(d, n, u, v, w, xi_prev, xi, coef),
    }
}

#[allow(clippy::too_many_arguments)]
fn dispatch<const D: usize>(
    n: usize,
    u: &[f64],
    v: &mut [f64],
    w: &mut [f64],
    xi_prev: &[f64],
    xi: &[f64],
    coef: Option<&Coef<'_>>,
) -> Overlaps {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: `fixed_avx2` only enables the AVX2 instruction set for the same safe
            // code as `fixed`; the CPU was just checked to support AVX2.
            #[allow(unsafe_code)]
            return unsafe { fixed_avx2::<D>(n, u, v, w, xi_prev, xi, coef) };
        }
    }
    fixed::<D>(n, u, v, w, xi_prev, xi, coef)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
fn fixed_avx2<const D: usize>(
    n: usize,
    u: &[f64],
    v: &mut [f64],
    w: &mut [f64],
    xi_prev: &[f64],
    xi: &[f64],
    coef: Option<&Coef<'_>>,
) -> Overlaps {
    fixed::<D>(n, u, v, w, xi_prev, xi, coef)
}

/// Sums lanes in a fixed order.
#[inline(always)]
fn lane_sum(a: [f64; LANES]) -> f64 {
    (a[0] + a[1]) + (a[2] + a[3])
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn fixed<const D: usize>(
    n: usize,
    u: &[f64],
    v: &mut [f64],
    w: &mut [f64],
    xi_prev: &[f64],
    xi: &[f64],
    coef: Option<&Coef<'_>>,
) -> Overlaps {
    let u: [&[f64]; D] = std::array::from_fn(|j| &u[j * n..(j + 1) * n]);
    let mut vit = v.chunks_exact_mut(n);
    let mut v: [&mut [f64]; D] = std::array::from_fn(|_| vit.next().expect("V has d columns"));
    let (w, xi_prev, xi) = (&mut w[..n], &xi_prev[..n], &xi[..n]);
    let mut au = [[0.0f64; LANES]; D];
    let mut av = [[0.0f64; LANES]; D];
    let mut aw = [0.0f64; LANES];
    let mut ax = [0.0f64; LANES];
    let blocks = n / LANES;
    // Element i of block b goes to lane i % LANES; the tail (n % LANES elements) goes to
    // lanes 0.. in order, so the accumulation order is the same in every build.
    let body = |i: usize,
                lane: usize,
                u: &[&[f64]; D],
                v: &mut [&mut [f64]; D],
                w: &mut [f64],
                au: &mut [[f64; LANES]; D],
                av: &mut [[f64; LANES]; D],
                aw: &mut [f64; LANES],
                ax: &mut [f64; LANES]| {
        let x = xi[i];
        match coef {
            None => {
                for j in 0..D {
                    au[j][lane] += u[j][i] * x;
                    av[j][lane] += v[j][i] * x;
                }
                aw[lane] += w[i] * x;
            }
            Some(c) => {
                let wo = w[i];
                let mut wn = c.kw * wo + c.cxi * xi_prev[i];
                for j in 0..D {
                    let vo = v[j][i];
                    wn += c.cu[j] * u[j][i] + c.cv[j] * vo;
                    let vn = c.bv[j] * vo + c.bw[j] * wo;
                    v[j][i] = vn;
                    au[j][lane] += u[j][i] * x;
                    av[j][lane] += vn * x;
                }
                w[i] = wn;
                aw[lane] += wn * x;
            }
        }
        ax[lane] += x * x;
    };
    match coef {
        None => {
            for b in 0..blocks {
                for lane in 0..LANES {
                    body(
                        b * LANES + lane,
                        lane,
                        &u,
                        &mut v,
                        w,
                        &mut au,
                        &mut av,
                        &mut aw,
                        &mut ax,
                    );
                }
            }
        }
        Some(c) => {
            // The hot loop, written on fixed-size blocks so the compiler sees 4 independent
            // lanes (same operations, same order as `body`).
            let cu: [f64; D] = std::array::from_fn(|j| c.cu[j]);
            let cv: [f64; D] = std::array::from_fn(|j| c.cv[j]);
            let bv: [f64; D] = std::array::from_fn(|j| c.bv[j]);
            let bw: [f64; D] = std::array::from_fn(|j| c.bw[j]);
            let (kw, cxi) = (c.kw, c.cxi);
            for b in 0..blocks {
                let r = b * LANES..(b + 1) * LANES;
                let x: &[f64; LANES] = xi[r.clone()].try_into().expect("block");
                let xp: &[f64; LANES] = xi_prev[r.clone()].try_into().expect("block");
                let wb: &mut [f64; LANES] = (&mut w[r.clone()]).try_into().expect("block");
                let mut wn = [0.0f64; LANES];
                for l in 0..LANES {
                    wn[l] = kw * wb[l] + cxi * xp[l];
                }
                for j in 0..D {
                    let ub: &[f64; LANES] = u[j][r.clone()].try_into().expect("block");
                    let vb: &mut [f64; LANES] = (&mut v[j][r.clone()]).try_into().expect("block");
                    for l in 0..LANES {
                        let vo = vb[l];
                        wn[l] += cu[j] * ub[l] + cv[j] * vo;
                        let vn = bv[j] * vo + bw[j] * wb[l];
                        vb[l] = vn;
                        au[j][l] += ub[l] * x[l];
                        av[j][l] += vn * x[l];
                    }
                }
                *wb = wn;
                for l in 0..LANES {
                    aw[l] += wn[l] * x[l];
                    ax[l] += x[l] * x[l];
                }
            }
        }
    }
    for (lane, i) in (blocks * LANES..n).enumerate() {
        body(i, lane, &u, &mut v, w, &mut au, &mut av, &mut aw, &mut ax);
    }
    Overlaps {
        u: au.iter().map(|a| lane_sum(*a)).collect(),
        v: av.iter().map(|a| lane_sum(*a)).collect(),
        w: lane_sum(aw),
        xx: lane_sum(ax),
    }
}

/// Any d: the same arithmetic one column at a time (not the hot path).
#[allow(clippy::too_many_arguments)]
fn general(
    d: usize,
    n: usize,
    u: &[f64],
    v: &mut [f64],
    w: &mut [f64],
    xi_prev: &[f64],
    xi: &[f64],
    coef: Option<&Coef<'_>>,
) -> Overlaps {
    if let Some(c) = coef {
        for i in 0..n {
            let wo = w[i];
            let mut wn = c.kw * wo + c.cxi * xi_prev[i];
            for j in 0..d {
                let vo = v[j * n + i];
                wn += c.cu[j] * u[j * n + i] + c.cv[j] * vo;
                v[j * n + i] = c.bv[j] * vo + c.bw[j] * wo;
            }
            w[i] = wn;
        }
    }
    let dot = |a: &[f64]| a.iter().zip(xi).map(|(p, q)| p * q).sum::<f64>();
    Overlaps {
        u: (0..d).map(|j| dot(&u[j * n..(j + 1) * n])).collect(),
        v: (0..d).map(|j| dot(&v[j * n..(j + 1) * n])).collect(),
        w: dot(&w[..n]),
        xx: dot(xi),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The blocked pass equals a plain scalar evaluation of the same update (to round-off:
    /// the sums are taken in a different order), for d = 1..5 and n not a multiple of 4.
    #[test]
    fn blocked_pass_equals_the_plain_update() {
        for d in 1..=5usize {
            let n = 37;
            let f = |k: usize| ((k * 7919 + d * 31) % 1000) as f64 / 500.0 - 1.0;
            let u: Vec<f64> = (0..n * d).map(f).collect();
            let v0: Vec<f64> = (0..n * d).map(|k| f(k + 3)).collect();
            let w0: Vec<f64> = (0..n).map(|k| f(k + 11)).collect();
            let xp: Vec<f64> = (0..n).map(|k| f(k + 17)).collect();
            let xi: Vec<f64> = (0..n).map(|k| f(k + 23)).collect();
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
            let (mut v1, mut w1) = (v0.clone(), w0.clone());
            let got = run(d, n, &u, &mut v1, &mut w1, &xp, &xi, Some(&c));
            let (mut v2, mut w2) = (v0.clone(), w0.clone());
            let want = general(d, n, &u, &mut v2, &mut w2, &xp, &xi, Some(&c));
            assert!(v1.iter().zip(&v2).all(|(a, b)| (a - b).abs() < 1e-14));
            assert!(w1.iter().zip(&w2).all(|(a, b)| (a - b).abs() < 1e-14));
            for (a, b) in got.u.iter().zip(&want.u).chain(got.v.iter().zip(&want.v)) {
                assert!((a - b).abs() < 1e-12, "d = {d}: {a} vs {b}");
            }
            assert!((got.w - want.w).abs() < 1e-12 && (got.xx - want.xx).abs() < 1e-12);
            // The run-time dispatched build (AVX2 where available) and the portable build
            // give bit-identical results.
            if d == 2 {
                let (mut v4, mut w4) = (v0.clone(), w0.clone());
                let port = fixed::<2>(n, &u, &mut v4, &mut w4, &xp, &xi, Some(&c));
                let bits = |x: &[f64]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&v4), bits(&v1));
                assert_eq!(bits(&w4), bits(&w1));
                assert_eq!(bits(&port.u), bits(&got.u));
                assert_eq!(bits(&port.v), bits(&got.v));
                assert_eq!(
                    (port.w.to_bits(), port.xx.to_bits()),
                    (got.w.to_bits(), got.xx.to_bits())
                );
            }
            // Without a pending update: overlaps only, vectors untouched.
            let (mut v3, mut w3) = (v0.clone(), w0.clone());
            let o = run(d, n, &u, &mut v3, &mut w3, &xp, &xi, None);
            assert!(v3 == v0 && w3 == w0);
            let plain: f64 = w0.iter().zip(&xi).map(|(a, b)| a * b).sum();
            assert!((o.w - plain).abs() < 1e-12);
        }
    }
}
