//! Minibatch SGDA's macroscopic limits (THEORY §11).
//!
//! **Small batches** (`B` fixed as `n -> inf`): with the mean of the `B` per-sample
//! updates at the per-step rates, the ODE keeps its drift and its Ito term is divided by
//! `B` ([`general_rhs_batch`], [`reduced_rhs_batch`]); with their sum (the linear-scaling
//! rule) it is the online ODE in sample time `s = k B / n`.
//!
//! **Large batches** (`B = beta n`, summed): one step moves the overlaps by `O(beta)`, and
//! the state follows the deterministic map [`BatchMap`], `M_{j+1} = Phi_beta(M_j)` at
//! sample time `s = j beta`. Per step, with `kappa = tau beta`, `kappa~ = tau~ beta` and the
//! coefficients `(g, g~, h, L, b)` of the general ODE at the state the player reads:
//!
//! ```text
//! discriminator (V fixed):
//!   w' = w + kappa (U g - V g~ + h w) + tau xi,   xi orthogonal to span(U, V, w), |xi|^2 = beta b
//!   q' = q + kappa (g - P g~ + h q)
//!   r' = r + kappa (P^T g - S g~ + h r)
//!   c  = w^T w' = z + kappa u,             u = q^T g - r^T g~ + h z
//!   z' = z + 2 kappa u + kappa^2 |U g - V g~ + h w|^2 + tau^2 beta b
//! generator (reading w and its coefficients), Gam = I + kappa~ L:
//!   V' = V Gam + kappa~ w g~^T
//!   P' = P Gam + kappa~ q g~^T
//!   S' = Gam S Gam + kappa~ (Gam r g~^T + g~ r^T Gam) + kappa~^2 z g~ g~^T
//!   r' = V'^T w_new
//! ```
//!
//! With `lambda = inf` (`h` without the regulariser, `L = 0`) `w` and each column of `V`
//! are then rescaled to unit norm. The orders: simultaneous (both read step j's weights;
//! the generator's `r' = Gam r'_D + kappa~ c g~`), discriminator first (`Phi_G o Phi_D`),
//! generator first (`Phi_D o Phi_G`), and `k_D` discriminator steps per generator step
//! (`Phi_G o Phi_D^k_D`). As `beta -> 0`, `Phi_beta(M) = M + beta F(M) + O(beta^2)` with `F`
//! the online ODE's right-hand side, Ito term included (tested below).

use hdgan_core::{DMat, MacroState};
use hdgan_model::{HForm, Model, OdeCoefficients};

/// The order in which the two players update within a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum UpdateOrder {
    /// Both players use the weights of step `j` (the paper's SGDA).
    #[default]
    Simultaneous,
    /// The discriminator steps first; the generator's step reads the new `w`.
    DiscriminatorFirst,
    /// The generator steps first; the discriminator's fake samples use the new `V`.
    GeneratorFirst,
}

/// The general ODE (8) of a minibatch of `batch` samples averaged at the per-step rates
/// (time `t = k / n`): the drift of [`crate::general_rhs`], the Ito term `tau^2 b` divided
/// by `batch`.
pub fn general_rhs_batch(model: &Model, state: &MacroState, batch: f64) -> MacroState {
    let mut out = crate::general_rhs(model, state, HForm::Corrected);
    let b = model.ode_coefficients(state, HForm::Corrected).b;
    out.z -= model.tau() * model.tau() * b * (1.0 - 1.0 / batch);
    out
}

/// The reduced ODE (lambda = inf) of a minibatch of `batch` averaged samples: the
/// multiplier `h = -(q^T g - r^T g~) - tau b / (2 batch)` (for the quadratic loss, eq. (14)
/// with `tau eta_T / 2`, `tau eta_G / 2` and `tau eta^2` divided by `batch`).
pub fn reduced_rhs_batch(model: &Model, state: &MacroState, batch: f64) -> MacroState {
    let mut out = crate::reduced_rhs_general(model, state);
    // Only h changes: dq, dr carry h q, h r (z = 1 on the constraint).
    let b = crate::reduced_coefficients(model, &*model.loss(), state).b;
    let dh = 0.5 * model.tau() * b * (1.0 - 1.0 / batch);
    for i in 0..state.d() {
        out.q[i] += model.tau() * dh * state.q[i];
        out.r[i] += model.tau() * dh * state.r[i];
    }
    out
}

/// The large-batch map `Phi_beta` of one model: a step of `beta n` summed samples per
/// player (see the module docs).
#[derive(Clone, Copy, Debug)]
pub struct BatchMap<'m> {
    model: &'m Model,
    beta: f64,
    order: UpdateOrder,
    d_steps: usize,
}

/// What the discriminator's step leaves before any rescaling: its new overlaps and
/// `c = w^T w'`.
struct DiscStep {
    q: Vec<f64>,
    r: Vec<f64>,
    z: f64,
    c: f64,
}

impl<'m> BatchMap<'m> {
    /// The map of `model` at batch fraction `beta` (> 0), in `order`, with `d_steps`
    /// (>= 1) discriminator steps per generator step (taken before the generator's; with
    /// `d_steps > 1` the order must be [`UpdateOrder::DiscriminatorFirst`]).
    ///
    /// # Panics
    ///
    /// If `beta` is not positive and finite, `d_steps` is 0, or `d_steps > 1` with another
    /// order (a validated config never asks for these).
    pub fn new(model: &'m Model, beta: f64, order: UpdateOrder, d_steps: usize) -> Self {
        assert!(beta.is_finite() && beta > 0.0, "beta = {beta}");
        assert!(d_steps >= 1, "d_steps = 0");
        assert!(
            d_steps == 1 || order == UpdateOrder::DiscriminatorFirst,
            "d_steps > 1 needs the discriminator-first order"
        );
        Self {
            model,
            beta,
            order,
            d_steps,
        }
    }

    fn constrained(&self) -> bool {
        self.model.lambda().is_infinite()
    }

    fn coefficients(&self, m: &MacroState) -> OdeCoefficients {
        self.model.ode_coefficients(m, HForm::Corrected)
    }

    /// The discriminator's step from `m` (nothing rescaled).
    fn disc(&self, m: &MacroState) -> DiscStep {
        let c = self.coefficients(m);
        let kappa = self.model.tau() * self.beta;
        let d = m.d();
        let p_gt = m.p.mul_vec(&c.g_tilde);
        let pt_g = m.p.t_mul_vec(&c.g);
        let s_gt = m.s.mul_vec(&c.g_tilde);
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let u = dot(&m.q, &c.g) - dot(&m.r, &c.g_tilde) + c.h * m.z;
        // |U g - V g~ + h w|^2
        let drift_sq = dot(&c.g, &c.g) - 2.0 * dot(&c.g, &p_gt)
            + dot(&c.g_tilde, &s_gt)
            + 2.0 * c.h * (dot(&m.q, &c.g) - dot(&m.r, &c.g_tilde))
            + c.h * c.h * m.z;
        let tau = self.model.tau();
        DiscStep {
            q: (0..d)
                .map(|i| m.q[i] + kappa * (c.g[i] - p_gt[i] + c.h * m.q[i]))
                .collect(),
            r: (0..d)
                .map(|i| m.r[i] + kappa * (pt_g[i] - s_gt[i] + c.h * m.r[i]))
                .collect(),
            z: m.z + 2.0 * kappa * u + kappa * kappa * drift_sq + tau * tau * self.beta * c.b,
            c: m.z + kappa * u,
        }
    }

    /// `Gam = I + kappa~ L` (diagonal) and `kappa~ g~` at the state the generator reads.
    fn gen_parts(&self, m: &MacroState) -> (Vec<f64>, Vec<f64>) {
        let c = self.coefficients(m);
        let kt = self.model.tau_tilde() * self.beta;
        let gam = c.l.iter().map(|l| 1.0 + kt * l).collect();
        let kg = c.g_tilde.iter().map(|g| kt * g).collect();
        (gam, kg)
    }

    /// `P' = P Gam + q kg^T` and `S' = Gam S Gam + Gam r kg^T + kg r^T Gam + z kg kg^T`.
    fn gen_ps(m: &MacroState, gam: &[f64], kg: &[f64]) -> (DMat, DMat) {
        let d = m.d();
        let mut p = DMat::zeros(d, d);
        let mut s = DMat::zeros(d, d);
        for i in 0..d {
            for j in 0..d {
                p[(i, j)] = m.p[(i, j)] * gam[j] + m.q[i] * kg[j];
                s[(i, j)] = gam[i] * m.s[(i, j)] * gam[j]
                    + gam[i] * m.r[i] * kg[j]
                    + kg[i] * m.r[j] * gam[j]
                    + m.z * kg[i] * kg[j];
            }
        }
        (p, s)
    }

    /// Rescales `w` (to `z = 1`) and each column of `V` (to `S_jj = 1`) when the model
    /// is constrained.
    fn project(&self, m: &mut MacroState) {
        if self.constrained() {
            rescale_to_unit_norms(m);
        }
    }

    /// `Phi_D`: the discriminator's step alone (then rescaled).
    pub fn discriminator_step(&self, m: &MacroState) -> MacroState {
        let s = self.disc(m);
        let mut out = MacroState {
            p: m.p.clone(),
            q: s.q,
            r: s.r,
            s: m.s.clone(),
            z: s.z,
        };
        self.project(&mut out);
        out
    }

    /// `Phi_G`: the generator's step alone, reading the current `w` (then rescaled).
    pub fn generator_step(&self, m: &MacroState) -> MacroState {
        let (gam, kg) = self.gen_parts(m);
        let (p, s) = Self::gen_ps(m, &gam, &kg);
        let r = (0..m.d()).map(|i| gam[i] * m.r[i] + m.z * kg[i]).collect();
        let mut out = MacroState {
            p,
            q: m.q.clone(),
            r,
            s,
            z: m.z,
        };
        self.project(&mut out);
        out
    }

    /// One step of the map, `M_{j+1} = Phi_beta(M_j)`.
    pub fn step(&self, m: &MacroState) -> MacroState {
        match self.order {
            UpdateOrder::Simultaneous => {
                let ds = self.disc(m);
                let (gam, kg) = self.gen_parts(m);
                let (p, s) = Self::gen_ps(m, &gam, &kg);
                let r = (0..m.d())
                    .map(|i| gam[i] * ds.r[i] + ds.c * kg[i])
                    .collect();
                let mut out = MacroState {
                    p,
                    q: ds.q,
                    r,
                    s,
                    z: ds.z,
                };
                self.project(&mut out);
                out
            }
            UpdateOrder::DiscriminatorFirst => {
                let mut x = self.discriminator_step(m);
                for _ in 1..self.d_steps {
                    x = self.discriminator_step(&x);
                }
                self.generator_step(&x)
            }
            UpdateOrder::GeneratorFirst => self.discriminator_step(&self.generator_step(m)),
        }
    }

    /// The path `M_0, M_1, ..., M_steps` (sample times `0, beta, 2 beta, ...`).
    pub fn iterate(&self, m0: &MacroState, steps: usize) -> Vec<MacroState> {
        let mut path = Vec::with_capacity(steps + 1);
        path.push(m0.clone());
        for _ in 0..steps {
            let next = self.step(path.last().expect("non-empty"));
            path.push(next);
        }
        path
    }
}

/// Rescales `w` to `z = 1` and each column of `V` to `S_jj = 1` (the projection of
/// `lambda = inf`), on the Gram matrix.
fn rescale_to_unit_norms(m: &mut MacroState) {
    let d = m.d();
    let sw = m.z.sqrt();
    let sv: Vec<f64> = (0..d).map(|j| m.s[(j, j)].sqrt()).collect();
    for i in 0..d {
        m.q[i] /= sw;
        m.r[i] /= sw * sv[i];
        for j in 0..d {
            m.p[(i, j)] /= sv[j];
            m.s[(i, j)] /= sv[i] * sv[j];
        }
    }
    m.z = 1.0;
    for j in 0..d {
        m.s[(j, j)] = 1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdgan_model::ModelConfig;

    fn state(d: usize, seed: u64) -> MacroState {
        // A valid Gram matrix of [U, V, w] with U^T U = I: V and w with components in
        // span(U) and outside it (one extra orthogonal direction each).
        let mut x = seed;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 11) as f64 / (1u64 << 53) as f64) - 0.5
        };
        let mut m = MacroState::zeros(d);
        let vperp: Vec<Vec<f64>> = (0..d)
            .map(|_| (0..d + 1).map(|_| next()).collect())
            .collect();
        let wperp: Vec<f64> = (0..d + 1).map(|_| next()).collect();
        for i in 0..d {
            for j in 0..d {
                m.p[(i, j)] = next();
            }
            m.q[i] = next();
        }
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        for i in 0..d {
            let pi: Vec<f64> = (0..d).map(|k| m.p[(k, i)]).collect();
            m.r[i] = dot(&pi, &m.q) + dot(&vperp[i], &wperp);
            for j in 0..d {
                let pj: Vec<f64> = (0..d).map(|k| m.p[(k, j)]).collect();
                m.s[(i, j)] = dot(&pi, &pj) + dot(&vperp[i], &vperp[j]);
            }
        }
        m.z = dot(&m.q, &m.q) + dot(&wperp, &wperp);
        m
    }

    fn models() -> Vec<Model> {
        let mut out = Vec::new();
        for lambda in ["\"inf\"", "0.7"] {
            for loss in ["quadratic", "logistic"] {
                let text = format!(
                    "n = 1000\nd = 2\ntau = 0.4\ntau_tilde = 0.6\neta_t = 1.2\neta_g = 0.8\n\
                     lambda = {lambda}\nloss = \"{loss}\"\n[latent]\ncov = [[4.0, 0.5], [0.5, 2.0]]\n"
                );
                let cfg: ModelConfig = toml::from_str(&text).unwrap();
                out.push(cfg.validate("model").unwrap());
            }
        }
        out
    }

    fn on_constraint(mut m: MacroState) -> MacroState {
        rescale_to_unit_norms(&mut m);
        m
    }

    fn dist(a: &MacroState, b: &MacroState) -> f64 {
        a.pack()
            .iter()
            .zip(b.pack())
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    }

    /// `(Phi_beta(M) - M) / beta -> F(M)` at first order: halving beta halves the error,
    /// for every order, loss and lambda; the online ODE without its Ito term is not the
    /// limit.
    #[test]
    fn the_map_tends_to_the_online_ode_as_beta_vanishes() {
        for model in models() {
            let constrained = model.lambda().is_infinite();
            for seed in 1..4 {
                let mut m = state(2, seed);
                if constrained {
                    m = on_constraint(m);
                }
                let f = if constrained {
                    crate::reduced_rhs_general(&model, &m)
                } else {
                    crate::general_rhs(&model, &m, HForm::Corrected)
                };
                for order in [
                    UpdateOrder::Simultaneous,
                    UpdateOrder::DiscriminatorFirst,
                    UpdateOrder::GeneratorFirst,
                ] {
                    let err = |beta: f64| {
                        let next = BatchMap::new(&model, beta, order, 1).step(&m);
                        let (a, b, c) = (next.pack(), m.pack(), f.pack());
                        (0..a.len())
                            .map(|k| ((a[k] - b[k]) / beta - c[k]).abs())
                            .fold(0.0, f64::max)
                    };
                    let e1 = err(1e-3);
                    let e2 = err(5e-4);
                    assert!(e1 < 0.05, "{order:?}: {e1}");
                    let ratio = e1 / e2;
                    assert!(
                        (1.8..2.2).contains(&ratio),
                        "{order:?}: first order? {ratio}"
                    );
                    // The Ito term is part of the limit: dropping it is visibly wrong.
                    let b = model.ode_coefficients(&m, HForm::Corrected).b;
                    let ito = model.tau() * model.tau() * b;
                    assert!(ito > 100.0 * e1, "Ito term {ito} vs error {e1}");
                }
            }
        }
    }

    #[test]
    fn the_constrained_map_stays_on_the_constraint_and_orders_compose() {
        let model = models().remove(0);
        let m = on_constraint(state(2, 7));
        for beta in [0.1, 1.0, 2.0] {
            let sim = BatchMap::new(&model, beta, UpdateOrder::Simultaneous, 1);
            let dfirst = BatchMap::new(&model, beta, UpdateOrder::DiscriminatorFirst, 1);
            let gfirst = BatchMap::new(&model, beta, UpdateOrder::GeneratorFirst, 1);
            let three = BatchMap::new(&model, beta, UpdateOrder::DiscriminatorFirst, 3);
            for x in [
                sim.step(&m),
                dfirst.step(&m),
                gfirst.step(&m),
                three.step(&m),
            ] {
                assert!((x.z - 1.0).abs() < 1e-15);
                for j in 0..2 {
                    assert!((x.s[(j, j)] - 1.0).abs() < 1e-15);
                }
            }
            let composed = sim.generator_step(&sim.discriminator_step(&m));
            assert!(dist(&dfirst.step(&m), &composed) < 1e-15);
            let composed = sim.discriminator_step(&sim.generator_step(&m));
            assert!(dist(&gfirst.step(&m), &composed) < 1e-15);
            let mut x = m.clone();
            for _ in 0..3 {
                x = sim.discriminator_step(&x);
            }
            assert!(dist(&three.step(&m), &sim.generator_step(&x)) < 1e-15);
            // At a finite beta the orders are different maps.
            assert!(dist(&sim.step(&m), &dfirst.step(&m)) > 1e-3 * beta);
        }
    }

    #[test]
    fn small_batches_divide_only_the_ito_term() {
        for model in models() {
            let constrained = model.lambda().is_infinite();
            let mut m = state(2, 3);
            if constrained {
                m = on_constraint(m);
            }
            let (one, four) = if constrained {
                (
                    reduced_rhs_batch(&model, &m, 1.0),
                    reduced_rhs_batch(&model, &m, 4.0),
                )
            } else {
                (
                    general_rhs_batch(&model, &m, 1.0),
                    general_rhs_batch(&model, &m, 4.0),
                )
            };
            let online = if constrained {
                crate::reduced_rhs_general(&model, &m)
            } else {
                crate::general_rhs(&model, &m, HForm::Corrected)
            };
            assert!(dist(&one, &online) < 1e-14);
            // Infinitely many samples: the drift alone. Its difference from B = 1 is the
            // Ito term, and B = 4 sits a quarter of the way.
            let inf = if constrained {
                reduced_rhs_batch(&model, &m, f64::INFINITY)
            } else {
                general_rhs_batch(&model, &m, f64::INFINITY)
            };
            let (a, b, c) = (one.pack(), four.pack(), inf.pack());
            for k in 0..a.len() {
                let expect = c[k] + 0.25 * (a[k] - c[k]);
                assert!((b[k] - expect).abs() < 1e-12 * (1.0 + a[k].abs()), "{k}");
            }
            assert!(
                dist(&one, &inf) > 1e-3,
                "the Ito term is not negligible here"
            );
        }
    }
}
