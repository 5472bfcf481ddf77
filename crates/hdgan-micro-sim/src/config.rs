use crate::{EngineKind, Features, InitState, StepMode};
use hdgan_core::{DMat, ParamError, SymPsd, check_finite_slice, check_positive};
use hdgan_model::Model;
use serde::{Deserialize, Serialize};

/// The `[init]` table: the initial microscopic state, prescribed through its overlaps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitConfig {
    /// `P0 = U^T V_0` (d x d, list of rows).
    pub p0: Vec<Vec<f64>>,
    /// `q0 = U^T w_0` (length d).
    pub q0: Vec<f64>,
    /// Squared column norms `diag(S0)` of V_0 (default all 1; must be 1 when lambda = inf).
    #[serde(default)]
    pub v_norm_sq: Option<Vec<f64>>,
    /// Squared norm `z0` of w_0 (default 1; must be 1 when lambda = inf).
    #[serde(default)]
    pub w_norm_sq: Option<f64>,
    /// How U is drawn: `"random"` (default) or `"constant"` (d = 1).
    #[serde(default)]
    pub features: Features,
    /// Gaussian initial weights (Figure 2): if given, the scaled rows are drawn
    /// independently as `(sqrt(n) V_i, sqrt(n) w_i) = (P0^T u^_i, q0 . u^_i) + N(0, row_cov)`
    /// with `u^_i = sqrt(n) U_i` and `row_cov` the (d+1) x (d+1) covariance of
    /// `(v^_1..v^_d, w^)`; the overlaps then hold P0, q0 up to O(1/sqrt n). `v_norm_sq` and
    /// `w_norm_sq` must be left out (they are `P0^T P0 + C_vv` and `|q0|^2 + C_ww`); with
    /// lambda = inf those must equal 1 (the draw is then normalised exactly).
    #[serde(default)]
    pub row_cov: Option<Vec<Vec<f64>>>,
    /// `Q0 = U^T W_0` for a p-feature discriminator (`model.p > 1`; required there, refused
    /// for p = 1): d x p, list of rows, column k is discriminator feature k's overlap with
    /// the true features. Every column of `W_0` has squared norm `w_norm_sq`; `q0` is then
    /// ignored except as documentation and must equal column 0.
    #[serde(default)]
    pub q0_cols: Option<Vec<Vec<f64>>>,
}

impl InitConfig {
    /// `P0 = p I`, `q0 = (q, .., q)`, unit norms, random features.
    pub fn diagonal(d: usize, p: f64, q: f64) -> Self {
        Self {
            p0: DMat::from_diag(&vec![p; d]).to_rows(),
            q0: vec![q; d],
            v_norm_sq: None,
            w_norm_sq: None,
            features: Features::Random,
            row_cov: None,
            q0_cols: None,
        }
    }

    /// Validates against the model: shapes d x d and d, finite entries, norms > 0 (equal to
    /// 1 when lambda = inf), and `||P0[:, j]||^2 <= S0_jj`, `||q0||^2 <= z0` (the
    /// prescribed overlaps must be reachable by vectors of those norms). `prefix` is the
    /// table's path (`init`).
    pub fn validate(&self, prefix: &str, model: &Model) -> Result<InitState, ParamError> {
        let d = model.d();
        let k = |name: &str| format!("{prefix}.{name}");
        let p0 = DMat::from_rows(&self.p0)
            .filter(|m| m.rows() == d && m.cols() == d)
            .ok_or_else(|| ParamError::Shape {
                key: k("p0"),
                expected: format!("{d} x {d} (d = {d})"),
                found: format!(
                    "{} rows of lengths {:?}",
                    self.p0.len(),
                    self.p0.iter().map(Vec::len).collect::<Vec<_>>()
                ),
            })?;
        check_finite_slice(&k("p0"), p0.as_slice())?;
        if self.q0.len() != d {
            return Err(ParamError::Shape {
                key: k("q0"),
                expected: format!("a vector of length d = {d}"),
                found: format!("length {}", self.q0.len()),
            });
        }
        check_finite_slice(&k("q0"), &self.q0)?;
        let s0 = self.v_norm_sq.clone().unwrap_or_else(|| vec![1.0; d]);
        if s0.len() != d {
            return Err(ParamError::Shape {
                key: k("v_norm_sq"),
                expected: format!("a vector of length d = {d}"),
                found: format!("length {}", s0.len()),
            });
        }
        for (j, &s) in s0.iter().enumerate() {
            check_positive(&format!("{}[{j}]", k("v_norm_sq")), s)?;
        }
        let z0 = check_positive(&k("w_norm_sq"), self.w_norm_sq.unwrap_or(1.0))?;
        if model.lambda().is_infinite() {
            if s0.iter().any(|&s| (s - 1.0).abs() > 1e-12) {
                return Err(ParamError::rule(
                    k("v_norm_sq"),
                    "must be 1 when model.lambda = inf (columns of V are unit vectors)",
                ));
            }
            if (z0 - 1.0).abs() > 1e-12 {
                return Err(ParamError::rule(
                    k("w_norm_sq"),
                    "must be 1 when model.lambda = inf (w is a unit vector)",
                ));
            }
        }
        for (j, &s) in s0.iter().enumerate() {
            let col: f64 = (0..d).map(|i| p0[(i, j)] * p0[(i, j)]).sum();
            if col > s * (1.0 + 1e-12) {
                return Err(ParamError::rule(
                    k("p0"),
                    format!(
                        "column {j} has squared norm {col} > v_norm_sq[{j}] = {s}: U^T V_j cannot be longer than V_j"
                    ),
                ));
            }
        }
        let qq: f64 = self.q0.iter().map(|x| x * x).sum();
        if qq > z0 * (1.0 + 1e-12) {
            return Err(ParamError::rule(
                k("q0"),
                format!("has squared norm {qq} > w_norm_sq = {z0}: U^T w cannot be longer than w"),
            ));
        }
        let row_cov = match &self.row_cov {
            None => None,
            Some(rows) => {
                let key = k("row_cov");
                if self.v_norm_sq.is_some() || self.w_norm_sq.is_some() {
                    return Err(ParamError::rule(
                        &key,
                        "fixes the norms itself: leave init.v_norm_sq and init.w_norm_sq out",
                    ));
                }
                let m = DMat::from_rows(rows)
                    .filter(|m| m.rows() == d + 1 && m.cols() == d + 1)
                    .ok_or_else(|| ParamError::Shape {
                        key: key.clone(),
                        expected: format!("{0} x {0} (d + 1)", d + 1),
                        found: format!("{} rows", rows.len()),
                    })?;
                let c = SymPsd::new(&key, m)?;
                let cm = c.matrix();
                if model.lambda().is_infinite() {
                    for j in 0..d {
                        let sjj: f64 =
                            (0..d).map(|i| p0[(i, j)] * p0[(i, j)]).sum::<f64>() + cm[(j, j)];
                        if (sjj - 1.0).abs() > 1e-9 {
                            return Err(ParamError::rule(
                                &key,
                                format!(
                                    "must give |V_{}|^2 = |P0[:, {j}]|^2 + row_cov[{j}][{j}] = 1 when model.lambda = inf, got {sjj}",
                                    j + 1
                                ),
                            ));
                        }
                    }
                    let z: f64 = self.q0.iter().map(|x| x * x).sum::<f64>() + cm[(d, d)];
                    if (z - 1.0).abs() > 1e-9 {
                        return Err(ParamError::rule(
                            &key,
                            format!(
                                "must give |w|^2 = |q0|^2 + row_cov[{d}][{d}] = 1 when model.lambda = inf, got {z}"
                            ),
                        ));
                    }
                }
                Some(c)
            }
        };
        let (s0, z0) = match &row_cov {
            Some(c) => {
                let cm = c.matrix();
                (
                    (0..d)
                        .map(|j| (0..d).map(|i| p0[(i, j)] * p0[(i, j)]).sum::<f64>() + cm[(j, j)])
                        .collect(),
                    self.q0.iter().map(|x| x * x).sum::<f64>() + cm[(d, d)],
                )
            }
            None => (s0, z0),
        };
        if self.features == Features::Constant && d != 1 {
            return Err(ParamError::rule(
                k("features"),
                format!("\"constant\" needs d = 1, got d = {d}"),
            ));
        }
        let q0_cols = self.validate_q0_cols(prefix, model, z0)?;
        Ok(InitState {
            p0,
            q0: self.q0.clone(),
            s0_diag: s0,
            z0,
            features: self.features,
            row_cov,
            q0_cols,
        })
    }

    /// `init.q0_cols`: required for `model.p > 1` (d x p, finite, column 0 equal to `q0`,
    /// every column reachable: `|Q0[:, k]|^2 <= w_norm_sq`), refused for p = 1 and with
    /// Gaussian initial rows.
    fn validate_q0_cols(
        &self,
        prefix: &str,
        model: &Model,
        z0: f64,
    ) -> Result<Option<DMat>, ParamError> {
        let key = format!("{prefix}.q0_cols");
        let (d, p) = (model.d(), model.p());
        let Some(rows) = &self.q0_cols else {
            if p > 1 {
                return Err(ParamError::rule(
                    &key,
                    format!("is required when model.p = {p} > 1: give U^T W_0 as {d} x {p} rows"),
                ));
            }
            return Ok(None);
        };
        if p == 1 {
            return Err(ParamError::rule(
                &key,
                "is only for model.p > 1 (with one discriminator feature use init.q0)",
            ));
        }
        if self.row_cov.is_some() {
            return Err(ParamError::rule(
                &key,
                "cannot be combined with init.row_cov (Gaussian rows are for p = 1)",
            ));
        }
        let q = DMat::from_rows(rows)
            .filter(|m| m.rows() == d && m.cols() == p)
            .ok_or_else(|| ParamError::Shape {
                key: key.clone(),
                expected: format!("{d} x {p} (d x p)"),
                found: format!(
                    "{} rows of lengths {:?}",
                    rows.len(),
                    rows.iter().map(Vec::len).collect::<Vec<_>>()
                ),
            })?;
        check_finite_slice(&key, q.as_slice())?;
        if (0..d).any(|i| (q[(i, 0)] - self.q0[i]).abs() > 1e-12) {
            return Err(ParamError::rule(
                &key,
                "column 0 must equal init.q0 (both describe the first discriminator feature)",
            ));
        }
        for k in 0..p {
            let qq: f64 = (0..d).map(|i| q[(i, k)] * q[(i, k)]).sum();
            if qq > z0 * (1.0 + 1e-12) {
                return Err(ParamError::rule(
                    &key,
                    format!(
                        "column {k} has squared norm {qq} > w_norm_sq = {z0}: U^T W_k cannot be longer than W_k"
                    ),
                ));
            }
        }
        Ok(Some(q))
    }
}

/// The `[sim]` table: how long and how the simulation runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// Final time T (the run takes `round(n T)` steps).
    pub t_end: f64,
    /// Time between recorded macroscopic states (recorded every `round(n dt)` steps).
    #[serde(default = "default_record_dt")]
    pub record_dt: f64,
    /// Step implementation of the full engine: `"fast"` (default) or `"literal"`.
    #[serde(default)]
    pub mode: StepMode,
    /// Engine: `"full"` (default, the n-dimensional simulation), `"gram"` (the exact law
    /// of the macroscopic chain at O(m^3) per step; no microscopic state) or `"multi"` (the
    /// p-feature literal step, which `"full"` runs for p > 1 and the orthonormal model).
    /// The registry ([`EngineKind::decl`]) says what each simulates.
    #[serde(default)]
    pub engine: EngineKind,
    /// Number of independent runs (ensemble members), each with its own random stream.
    #[serde(default = "default_members")]
    pub members: usize,
    /// A squared norm (`z`, `S_jj`) above this stops the run as diverged.
    #[serde(default = "default_blowup")]
    pub blowup: f64,
}

fn default_record_dt() -> f64 {
    1.0
}
fn default_members() -> usize {
    1
}
fn default_blowup() -> f64 {
    crate::DEFAULT_BLOWUP
}

impl SimConfig {
    /// A config with defaults for everything but the final time.
    pub fn new(t_end: f64) -> Self {
        Self {
            t_end,
            record_dt: default_record_dt(),
            mode: StepMode::default(),
            engine: EngineKind::default(),
            members: default_members(),
            blowup: default_blowup(),
        }
    }

    /// Checks `t_end > 0`, `record_dt > 0`, `members >= 1`, `blowup > 0`, all finite, and
    /// that `record_dt` is at least one step (`n record_dt >= 1`).
    pub fn validate(&self, prefix: &str, n: usize) -> Result<(), ParamError> {
        let k = |name: &str| format!("{prefix}.{name}");
        check_positive(&k("t_end"), self.t_end)?;
        check_positive(&k("record_dt"), self.record_dt)?;
        check_positive(&k("blowup"), self.blowup)?;
        if (self.record_dt * n as f64).round() < 1.0 {
            return Err(ParamError::rule(
                k("record_dt"),
                format!("must be at least one step, 1/n = {}", 1.0 / n as f64),
            ));
        }
        if self.members == 0 {
            return Err(ParamError::rule(k("members"), "must be >= 1"));
        }
        Ok(())
    }

    /// [`SimConfig::validate`], then asks the engine registry ([`crate::resolve`]) which
    /// engine simulates `model` started from `init` with the chosen engine and step
    /// (refusing, with the key to change, what no declared engine simulates), and returns
    /// the validated settings every pipeline uses.
    pub fn settings(
        &self,
        prefix: &str,
        model: &Model,
        init: &InitState,
    ) -> Result<SimSettings, ParamError> {
        self.validate(prefix, model.n())?;
        let engine = crate::resolve(
            self.engine,
            &crate::Request::new(model, init, self.mode),
            prefix,
        )?;
        Ok(SimSettings {
            t_end: self.t_end,
            record_dt: self.record_dt,
            requested: self.engine,
            engine,
            mode: self.mode,
            members: self.members,
            blowup: self.blowup,
        })
    }
}

/// Validated simulation settings ([`SimConfig::settings`]): an engine and step that
/// support the model, the ensemble size and the divergence bound.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SimSettings {
    /// The final time T as given (`sim.t_end`, > 0); the run takes `round(n T)` steps
    /// ([`crate::Schedule`]).
    pub t_end: f64,
    /// The record interval as given (`sim.record_dt`, at least one step).
    pub record_dt: f64,
    /// The engine asked for (`sim.engine`).
    pub requested: EngineKind,
    /// The engine that runs (the requested one, or its declared fallback).
    pub engine: EngineKind,
    /// The step of the full engine.
    pub mode: StepMode,
    /// Ensemble members (>= 1).
    pub members: usize,
    /// Squared-norm bound beyond which a run stops as diverged (> 0).
    pub blowup: f64,
}
