//! Centring, noise scaling, the data spectrum and the top-d PCA reference subspace.

use crate::error::DataError;
use crate::read::ImageSet;
use faer::{Accum, Mat, Par, Side};
use rayon::prelude::*;

/// Number of fixed row ranges the covariance is summed over (in parallel, then added in
/// order), so the result does not depend on the number of threads.
const PARTS: usize = 8;

/// A dataset prepared for the linear GAN (THEORY §8, real data): images centred by the pixel
/// means and divided by `scale`, chosen so that the noise bulk of the covariance spectrum
/// (every eigenvalue past the top d) has mean 1. In these units the model reads
/// `y = U c + sqrt(eta_T) a` with `eta_T = 1`, `U` the top-d principal subspace
/// ([`Prepared::reference`]) and the effective second moment of `c` estimated as
/// `lam_l - 1` ([`Prepared::effective`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Prepared {
    /// Ambient dimension n (pixels per image).
    pub n: usize,
    /// Reference dimension d.
    pub d: usize,
    /// Pixel means (raw byte units).
    pub mean: Vec<f64>,
    /// Raw-to-model scale: `y = (x - mean) / scale`; `scale^2` is the bulk's mean variance
    /// in raw units.
    pub scale: f64,
    /// Eigenvalues of the scaled covariance, descending (all n of them).
    pub spectrum: Vec<f64>,
    /// Top-d eigenvectors of the covariance, column-major n x d, orthonormal: the
    /// data-driven reference subspace.
    pub reference: Vec<f64>,
    /// Number of images the statistics were computed from.
    pub count: usize,
}

impl Prepared {
    /// Centres and scales `set` and computes its covariance spectrum and top-d subspace
    /// (the covariance is formed in O(count n^2), summed over fixed row ranges so the
    /// numbers do not depend on the thread count; its eigendecomposition is O(n^3)).
    pub fn new(set: &ImageSet, d: usize) -> Result<Self, DataError> {
        let n = set.dim();
        if d == 0 || 2 * d + 1 > n {
            return Err(DataError::Invalid {
                what: format!("d = {d} must be >= 1 and 2 d + 1 <= n = {n} (pixels per image)"),
            });
        }
        if set.count < 2 * n.min(1000) {
            return Err(DataError::Invalid {
                what: format!(
                    "{} has {} images: at least {} are needed to estimate a {n}-dimensional covariance spectrum",
                    set.source,
                    set.count,
                    2 * n.min(1000)
                ),
            });
        }
        let mean = pixel_means(set);
        let cov = covariance(set, &mean);
        let eig = cov
            .self_adjoint_eigen(Side::Lower)
            .map_err(|e| DataError::Invalid {
                what: format!("eigendecomposition of the {n} x {n} covariance failed: {e:?}"),
            })?;
        // faer returns ascending eigenvalues; reverse to descending.
        let s = eig.S();
        let u = eig.U();
        let raw: Vec<f64> = (0..n).rev().map(|k| s[k].max(0.0)).collect();
        let bulk: f64 = raw[d..].iter().sum::<f64>() / (n - d) as f64;
        if bulk.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            return Err(DataError::Invalid {
                what: format!(
                    "{}: the covariance has no variance beyond its top {d} directions: no noise bulk to scale by",
                    set.source
                ),
            });
        }
        let spectrum: Vec<f64> = raw.iter().map(|l| l / bulk).collect();
        let mut reference = vec![0.0; n * d];
        for j in 0..d {
            let k = n - 1 - j;
            // Fix the sign (largest-magnitude entry positive) so the subspace's basis is
            // reproducible whatever the eigensolver's sign convention.
            let col: Vec<f64> = (0..n).map(|i| u[(i, k)]).collect();
            let big = col
                .iter()
                .copied()
                .fold(0.0f64, |a, b| if b.abs() > a.abs() { b } else { a });
            let sign = if big < 0.0 { -1.0 } else { 1.0 };
            for (i, c) in col.iter().enumerate() {
                reference[j * n + i] = sign * c;
            }
        }
        Ok(Self {
            n,
            d,
            mean,
            scale: bulk.sqrt(),
            spectrum,
            reference,
            count: set.count,
        })
    }

    /// The estimated effective second moment of the latent along each reference
    /// direction, `lam_l - 1` (signal variance above the unit noise), l = 1..d.
    pub fn effective(&self) -> Vec<f64> {
        self.spectrum[..self.d].iter().map(|l| l - 1.0).collect()
    }

    /// Image `x` (bytes) in model units: `(x - mean) / scale`, written into `out`.
    pub fn transform_into(&self, x: &[u8], out: &mut [f64]) {
        let inv = 1.0 / self.scale;
        for ((o, &b), m) in out.iter_mut().zip(x).zip(&self.mean) {
            *o = (f64::from(b) - m) * inv;
        }
    }
}

fn pixel_means(set: &ImageSet) -> Vec<f64> {
    let n = set.dim();
    let mut sum = vec![0.0f64; n];
    for img in set.pixels.chunks_exact(n) {
        for (s, &b) in sum.iter_mut().zip(img) {
            *s += f64::from(b);
        }
    }
    let c = set.count as f64;
    sum.iter().map(|s| s / c).collect()
}

/// Sample covariance `(1/count) sum (x - mean)(x - mean)^T` (n x n, lower triangle used).
fn covariance(set: &ImageSet, mean: &[f64]) -> Mat<f64> {
    let n = set.dim();
    let per = set.count.div_ceil(PARTS);
    let block = 1024usize;
    let parts: Vec<Mat<f64>> = (0..PARTS)
        .into_par_iter()
        .map(|part| {
            let (lo, hi) = (part * per, ((part + 1) * per).min(set.count));
            let mut acc = Mat::<f64>::zeros(n, n);
            let mut start = lo;
            while start < hi {
                let end = (start + block).min(hi);
                let x = Mat::<f64>::from_fn(end - start, n, |r, c| {
                    f64::from(set.pixels[(start + r) * n + c]) - mean[c]
                });
                faer::linalg::matmul::matmul(
                    acc.as_mut(),
                    Accum::Add,
                    x.transpose(),
                    x.as_ref(),
                    1.0,
                    Par::Seq,
                );
                start = end;
            }
            acc
        })
        .collect();
    let mut total = Mat::<f64>::zeros(n, n);
    for p in &parts {
        total += p;
    }
    let inv = 1.0 / set.count as f64;
    Mat::from_fn(n, n, |i, j| total[(i, j)] * inv)
}
