use crate::random::{SimRng, standard_normal};
use hdgan_core::{DMat, ParamError, SymPsd, check_finite_slice};
use rand::RngExt;

/// One Gaussian component of a latent distribution.
#[derive(Clone, Debug, PartialEq)]
struct Component {
    weight: f64,
    mean: Vec<f64>,
    cov: SymPsd,
    /// `A` with `A A^T = cov`, so that `mean + A e`, `e ~ N(0, I)`, has the component's law.
    factor: DMat,
}

/// The law of a latent vector `c` (or `c~`) in R^d: a Gaussian with any PSD covariance and
/// optional mean, or a finite mixture of such Gaussians (class first, then Gaussian; THEORY §8).
///
/// For the quadratic discriminator the dynamics see only the **second moment**
/// `E[c c^T] = sum_k pi_k (Sigma_k + mu_k mu_k^T)` ([`Latent::second_moment`]), not the
/// covariance.
#[derive(Clone, Debug, PartialEq)]
pub struct Latent {
    components: Vec<Component>,
    /// Cumulative weights, for drawing the class.
    cumulative: Vec<f64>,
    second_moment: SymPsd,
}

impl Latent {
    /// A Gaussian `N(mean, cov)`; `key` names the configuration entry in errors.
    pub fn gaussian(key: &str, mean: Vec<f64>, cov: SymPsd) -> Result<Self, ParamError> {
        Self::mixture(key, vec![(1.0, mean, cov)])
    }

    /// A mixture `sum_k pi_k N(mu_k, Sigma_k)` from `(pi_k, mu_k, Sigma_k)`; weights must be
    /// positive and sum to 1 (within 1e-9, then renormalised).
    pub fn mixture(key: &str, parts: Vec<(f64, Vec<f64>, SymPsd)>) -> Result<Self, ParamError> {
        let Some(d) = parts.first().map(|p| p.2.dim()) else {
            return Err(ParamError::rule(key, "must have at least one component"));
        };
        let total: f64 = parts.iter().map(|p| p.0).sum();
        if parts.iter().any(|p| !(p.0.is_finite() && p.0 > 0.0)) || (total - 1.0).abs() > 1e-9 {
            return Err(ParamError::rule(
                key,
                format!("class probabilities must be > 0 and sum to 1, got sum {total}"),
            ));
        }
        let mut components = Vec::with_capacity(parts.len());
        let mut m2 = DMat::zeros(d, d);
        for (k, (weight, mean, cov)) in parts.into_iter().enumerate() {
            if cov.dim() != d {
                return Err(ParamError::Shape {
                    key: format!("{key}[{k}].cov"),
                    expected: format!("{d} x {d}"),
                    found: format!("{0} x {0}", cov.dim()),
                });
            }
            if mean.len() != d {
                return Err(ParamError::Shape {
                    key: format!("{key}.mean"),
                    expected: format!("a vector of length d = {d}"),
                    found: format!("length {}", mean.len()),
                });
            }
            check_finite_slice(&format!("{key}.mean"), &mean)?;
            let weight = weight / total;
            for i in 0..d {
                for j in 0..d {
                    m2[(i, j)] += weight * (cov.matrix()[(i, j)] + mean[i] * mean[j]);
                }
            }
            components.push(Component {
                weight,
                factor: cov.sqrt_factor(),
                mean,
                cov,
            });
        }
        let mut acc = 0.0;
        let cumulative = components
            .iter()
            .map(|c| {
                acc += c.weight;
                acc
            })
            .collect();
        let second_moment = SymPsd::new(&format!("{key} (second moment)"), m2)?;
        Ok(Self {
            components,
            cumulative,
            second_moment,
        })
    }

    /// The dimension d.
    pub fn dim(&self) -> usize {
        self.second_moment.dim()
    }

    /// `E[c c^T]`, the matrix `Lam` (or `Lam~`) of THEORY §4.
    pub fn second_moment(&self) -> &SymPsd {
        &self.second_moment
    }

    /// The mixture's classes as `(probability, mean, covariance)` (one for a Gaussian).
    pub fn components(&self) -> impl Iterator<Item = (f64, &[f64], &SymPsd)> {
        self.components
            .iter()
            .map(|c| (c.weight, c.mean.as_slice(), &c.cov))
    }

    /// The mean `E[c]`.
    pub fn mean(&self) -> Vec<f64> {
        let mut m = vec![0.0; self.dim()];
        for c in &self.components {
            for (mi, ci) in m.iter_mut().zip(&c.mean) {
                *mi += c.weight * ci;
            }
        }
        m
    }

    /// The single Gaussian's covariance, if this is not a mixture.
    pub fn covariance(&self) -> Option<&SymPsd> {
        match self.components.as_slice() {
            [c] => Some(&c.cov),
            _ => None,
        }
    }

    /// Draws one latent vector into `out` (length d). A single Gaussian uses exactly d
    /// normals; a mixture first draws the class from one uniform.
    pub fn sample(&self, rng: &mut SimRng, out: &mut [f64]) {
        let comp = if self.components.len() == 1 {
            &self.components[0]
        } else {
            let u: f64 = rng.random();
            let k = self
                .cumulative
                .iter()
                .position(|&c| u < c)
                .unwrap_or(self.components.len() - 1);
            &self.components[k]
        };
        let d = self.dim();
        let mut e = [0.0f64; 16];
        let mut e_vec;
        let e: &mut [f64] = if d <= 16 {
            &mut e[..d]
        } else {
            e_vec = vec![0.0; d];
            &mut e_vec
        };
        for x in e.iter_mut() {
            *x = standard_normal(rng);
        }
        comp.transform(e, out);
    }

    /// True when the law is one Gaussian: [`Latent::sample`] then draws exactly d normals
    /// and nothing else, so a caller may draw them itself (in one batch with other normals)
    /// and pass them to [`Latent::from_normals`].
    pub fn is_gaussian(&self) -> bool {
        self.components.len() == 1
    }

    /// The latent vector that [`Latent::sample`] makes from the d standard normals `e` when
    /// [`Latent::is_gaussian`] holds (same arithmetic, same result).
    ///
    /// # Panics
    /// For a mixture (programming error).
    #[inline]
    pub fn from_normals(&self, e: &[f64], out: &mut [f64]) {
        assert!(self.is_gaussian(), "from_normals needs a single Gaussian");
        self.components[0].transform(e, out);
    }
}

impl Component {
    /// `mean + factor e`.
    #[inline]
    fn transform(&self, e: &[f64], out: &mut [f64]) {
        let d = e.len();
        for (i, o) in out.iter_mut().enumerate() {
            let row = &self.factor.as_slice()[i * d..(i + 1) * d];
            *o = self.mean[i] + row.iter().zip(e.iter()).map(|(a, b)| a * b).sum::<f64>();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::stream_rng;

    fn cov(rows: &[&[f64]]) -> SymPsd {
        SymPsd::new(
            "c",
            DMat::from_rows(&rows.iter().map(|r| r.to_vec()).collect::<Vec<_>>()).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn second_moment_adds_the_mean() {
        let l = Latent::gaussian("c", vec![1.0, 2.0], cov(&[&[1.0, 0.0], &[0.0, 3.0]])).unwrap();
        let m = l.second_moment().matrix();
        assert_eq!(m.to_rows(), vec![vec![2.0, 2.0], vec![2.0, 7.0]]);
    }

    #[test]
    fn samples_have_the_second_moment() {
        // Empirical second moment over N draws; each entry's standard error is at most
        // sqrt(Var(c_i c_j) / N), here below 10 / sqrt(N); allow 5 standard errors.
        let l = Latent::mixture(
            "c",
            vec![
                (0.3, vec![1.0, -1.0], cov(&[&[2.0, 0.5], &[0.5, 1.0]])),
                (0.7, vec![0.0, 2.0], cov(&[&[1.0, 0.0], &[0.0, 0.5]])),
            ],
        )
        .unwrap();
        let mut rng = stream_rng(3, 0);
        let n = 200_000;
        let mut acc = [0.0; 4];
        let mut c = [0.0; 2];
        for _ in 0..n {
            l.sample(&mut rng, &mut c);
            acc[0] += c[0] * c[0];
            acc[1] += c[0] * c[1];
            acc[2] += c[1] * c[0];
            acc[3] += c[1] * c[1];
        }
        let m = l.second_moment().matrix().as_slice();
        for k in 0..4 {
            let emp = acc[k] / n as f64;
            assert!(
                (emp - m[k]).abs() < 5.0 * 10.0 / (n as f64).sqrt(),
                "entry {k}: {emp} vs {}",
                m[k]
            );
        }
    }

    #[test]
    fn bad_mixtures_are_rejected() {
        let c = cov(&[&[1.0]]);
        assert!(Latent::mixture("c", vec![(0.5, vec![0.0], c.clone())]).is_err());
        assert!(Latent::gaussian("c", vec![0.0, 1.0], c.clone()).is_err());
        assert!(Latent::gaussian("c", vec![f64::NAN], c).is_err());
    }
}
