//! The engine registry: every engine `sim.engine` can name, what it simulates and what it
//! costs, declared once. Validation ([`crate::SimConfig::settings`], through [`resolve`]),
//! the memory and work estimates, sweeps, the CLI's `--engine` help and Python's messages
//! all ask it; a model an engine does not declare is refused with the key to change, never
//! run by a different engine in silence.
//!
//! To add an engine: a variant of [`EngineKind`], its [`EngineDecl`] in [`EngineKind::decl`],
//! its construction in [`crate::AnyEngine::build`] (or the typed builder of its state), and
//! its `Engine` / `Checkpoint` implementations (ARCHITECTURE, "How to add an engine").

use crate::InitState;
use hdgan_core::ParamError;
use hdgan_model::{Constraint, Loss, Model};
use serde::{Deserialize, Serialize};

/// Which implementation of the SGDA step (THEORY §2) runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepMode {
    /// Eq. 5 as written: three full n-dimensional samples per step.
    Literal,
    /// The same law from one n-vector of normals per step (the second fake sample enters
    /// only through its score; the noise of the w-update is split along w and orthogonal
    /// to it). The default.
    #[default]
    Fast,
}

/// Which engine simulates the chain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// The n-dimensional vectors (eq. 5), stepped by `mode`.
    #[default]
    Full,
    /// The exact Gram engine: the law of M_k in O(m^3) per step, any n (THEORY §7).
    Gram,
    /// The literal n-dimensional step with a p-feature discriminator `W` (THEORY §8), any
    /// p, both constraints; `"full"` runs it for the models its single-feature step does
    /// not simulate (p > 1, the orthonormal model). What each engine simulates:
    /// [`EngineKind::decl`].
    Multi,
}

/// How many discriminator features (`model.p`) an engine simulates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeatureCount {
    /// p = 1 only.
    One,
    /// Any p >= 1.
    Any,
}

/// Which discriminator losses (`model.loss`) an engine simulates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossSupport {
    /// Every loss of the model crate.
    Any,
    /// The quadratic loss of Example 1 only.
    QuadraticOnly,
}

/// The macroscopic state an engine records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Records {
    /// `MacroState` (P, q, r, S, z): one discriminator feature.
    Single,
    /// `MultiState` (P, Q, R, S, Z): p features (also for p = 1), described by the
    /// multi-feature ODE.
    Multi,
}

/// Why an engine does not simulate something, one sentence per capability (shown in the
/// refusals).
#[derive(Clone, Copy, Debug)]
pub struct Reasons {
    /// Why not p > 1.
    pub features: &'static str,
    /// Why not the constraints it leaves out.
    pub constraint: &'static str,
    /// Why not `model.l1 > 0` (in the modes it leaves out).
    pub l1: &'static str,
    /// Why not the step modes it leaves out.
    pub modes: &'static str,
    /// Why not the losses it leaves out.
    pub loss: &'static str,
    /// Why not Gaussian initial rows (`init.row_cov`).
    pub rows: &'static str,
}

/// What an engine declares: the models it simulates, its cost, how the run loop and the
/// checkpoints treat it.
#[derive(Clone, Copy, Debug)]
pub struct EngineDecl {
    /// The engine.
    pub kind: EngineKind,
    /// Its `sim.engine` / `--engine` spelling.
    pub name: &'static str,
    /// One line for help texts.
    pub summary: &'static str,
    /// Discriminator features it simulates.
    pub features: FeatureCount,
    /// `model.constraint` values it simulates (with lambda = inf).
    pub constraints: &'static [Constraint],
    /// Losses it simulates.
    pub losses: LossSupport,
    /// `sim.mode` values it runs (empty: the key does not apply to it).
    pub modes: &'static [StepMode],
    /// The modes in which it simulates `model.l1 > 0` (empty: none).
    pub l1_modes: &'static [StepMode],
    /// Whether it starts from Gaussian initial rows (`init.row_cov`).
    pub gaussian_rows: bool,
    /// The state it records (and so the pipeline and ODE that go with it).
    pub records: Records,
    /// Members the run loop steps together (SIMD lanes; 1: one by one).
    pub lanes: usize,
    /// The tag of its state in a checkpoint.
    pub checkpoint_tag: u8,
    /// The engine that runs, under this engine's name, the models this one does not
    /// simulate because of their shape (more features, another constraint): `"full"` means
    /// the n-dimensional simulation, whichever discriminator it has.
    pub fallback: Option<EngineKind>,
    /// Whether a member holds n-dimensional vectors (false: only O(d^2) numbers).
    pub microscopic: bool,
    /// n-vectors a member holds at (d, p, mode), its initial state's construction included.
    pub vectors: fn(usize, usize, StepMode) -> usize,
    /// Floating-point operations of one step at (n, d, p), for the work estimate.
    pub step_flops: fn(usize, usize, usize) -> f64,
    /// Why it does not simulate what it leaves out.
    pub reasons: Reasons,
}

/// Gram members stepped together in SIMD lanes (`GramLanes`, four f64 in an AVX2 register).
pub const LANES: usize = 4;

const BOTH_MODES: &[StepMode] = &[StepMode::Fast, StepMode::Literal];
const LITERAL: &[StepMode] = &[StepMode::Literal];

static FULL: EngineDecl = EngineDecl {
    kind: EngineKind::Full,
    name: "full",
    summary: "the n-dimensional simulation of eq. 5 (O(n d) per step), stepped by sim.mode",
    features: FeatureCount::One,
    constraints: &[Constraint::Columns],
    losses: LossSupport::Any,
    modes: BOTH_MODES,
    l1_modes: LITERAL,
    gaussian_rows: true,
    records: Records::Single,
    lanes: 1,
    checkpoint_tag: 0,
    fallback: Some(EngineKind::Multi),
    microscopic: true,
    vectors: |d, _p, mode| 3 * d + 2 + if mode == StepMode::Literal { 6 } else { 4 },
    step_flops: |n, d, _p| (12 * n * (d + 1)) as f64,
    reasons: Reasons {
        features: "the single-feature step has one discriminator column",
        constraint: "the single-feature step keeps each column normalised on its own",
        l1: "the fast step needs a w-update linear in w",
        modes: "",
        loss: "",
        rows: "",
    },
};

static GRAM: EngineDecl = EngineDecl {
    kind: EngineKind::Gram,
    name: "gram",
    summary: "the exact law of the overlaps in O(d^3) per step, any n (THEORY section 7)",
    features: FeatureCount::One,
    constraints: &[Constraint::Columns],
    losses: LossSupport::Any,
    modes: &[],
    l1_modes: &[],
    gaussian_rows: true,
    records: Records::Single,
    lanes: LANES,
    checkpoint_tag: 1,
    fallback: None,
    microscopic: false,
    vectors: |_, _, _| 0,
    step_flops: |_n, d, _p| {
        let m = (2 * d + 1) as f64;
        4.0 * m * m * m
    },
    reasons: Reasons {
        features: "the Gram engine has one discriminator column",
        constraint: "the Gram engine keeps each column normalised on its own, not V orthonormal",
        l1: "an elementwise penalty does not act through the Gram matrix",
        modes: "",
        loss: "",
        rows: "",
    },
};

static MULTI: EngineDecl = EngineDecl {
    kind: EngineKind::Multi,
    name: "multi",
    summary: "the literal n-dimensional step with a p-feature discriminator W (THEORY section 8), \
              both constraints; \"full\" runs it for p > 1 and the orthonormal model",
    features: FeatureCount::Any,
    constraints: &[Constraint::Columns, Constraint::Orthonormal],
    losses: LossSupport::QuadraticOnly,
    modes: LITERAL,
    l1_modes: &[],
    gaussian_rows: false,
    records: Records::Multi,
    lanes: 1,
    checkpoint_tag: 2,
    fallback: None,
    microscopic: true,
    vectors: |d, p, _| 3 * d + 2 * p + 6,
    step_flops: |n, d, p| (12 * n * (d + p) + 4 * n * (d * d + p * p)) as f64,
    reasons: Reasons {
        features: "",
        constraint: "",
        l1: "the multi-feature step has no elementwise penalty",
        modes: "the multi-feature engine has only the literal step",
        loss: "the multi-feature engine is derived for the quadratic loss of Example 1 only",
        rows: "the multi-feature engine starts from prescribed overlaps (init.q0_cols), not Gaussian rows",
    },
};

impl EngineKind {
    /// Every engine, in the order help texts list them.
    pub const ALL: [EngineKind; 3] = [EngineKind::Full, EngineKind::Gram, EngineKind::Multi];

    /// What this engine declares.
    pub fn decl(self) -> &'static EngineDecl {
        match self {
            EngineKind::Full => &FULL,
            EngineKind::Gram => &GRAM,
            EngineKind::Multi => &MULTI,
        }
    }

    /// Its `sim.engine` spelling.
    pub fn name(self) -> &'static str {
        self.decl().name
    }

    /// The engine of a `sim.engine` spelling.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The spellings, for messages: `full, gram, multi`.
    pub fn names() -> String {
        Self::ALL.map(EngineKind::name).join(", ")
    }

    /// One line per engine (`name: summary`), for `--engine` help.
    pub fn help() -> String {
        Self::ALL
            .map(|k| format!("{}: {}", k.name(), k.decl().summary))
            .join("\n")
    }

    /// The engine whose checkpoint tag is `tag`.
    pub fn from_checkpoint_tag(tag: u8) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.decl().checkpoint_tag == tag)
    }

    /// What every engine declares, as a Markdown table (header, then one row per engine of
    /// [`EngineKind::ALL`]), written from the declarations alone. ARCHITECTURE.md carries
    /// it; a test fails when the file's copy differs.
    pub fn capability_table() -> String {
        let list = |items: Vec<&str>| {
            if items.is_empty() {
                "no".to_owned()
            } else {
                items.join(", ")
            }
        };
        let mut out = String::from(
            "| engine | `model.p` | `model.constraint` | `model.l1 > 0` | `model.loss` \
             | `init.row_cov` | `sim.mode` | records | member holds | lanes \
             | checkpoint tag | runs the rest on |\n\
             |---|---|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for kind in Self::ALL {
            let d = kind.decl();
            let p = match d.features {
                FeatureCount::One => "1",
                FeatureCount::Any => "any",
            };
            let constraints = list(
                d.constraints
                    .iter()
                    .map(|c| match c {
                        Constraint::Columns => "columns",
                        Constraint::Orthonormal => "orthonormal",
                    })
                    .collect(),
            );
            let l1 = if d.l1_modes.is_empty() {
                "no".to_owned()
            } else if d.modes.is_empty() {
                "yes".to_owned()
            } else {
                format!(
                    "with {}",
                    d.l1_modes
                        .iter()
                        .map(|&m| format!("`{}`", mode_name(m)))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            let losses = match d.losses {
                LossSupport::Any => "any",
                LossSupport::QuadraticOnly => "quadratic",
            };
            let rows = if d.gaussian_rows { "yes" } else { "no" };
            let modes = if d.modes.is_empty() {
                "does not apply".to_owned()
            } else {
                d.modes
                    .iter()
                    .map(|&m| format!("`{}`", mode_name(m)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let records = match d.records {
                Records::Single => "`MacroState`",
                Records::Multi => "`MultiState`",
            };
            let holds = if d.microscopic {
                "n-vectors"
            } else {
                "O(d^2) numbers"
            };
            let fallback = d
                .fallback
                .map_or("none".to_owned(), |f| format!("`{}`", f.name()));
            out += &format!(
                "| `{}` | {p} | {constraints} | {l1} | {losses} | {rows} | {modes} | {records} \
                 | {holds} | {} | {} | {fallback} |\n",
                d.name, d.lanes, d.checkpoint_tag
            );
        }
        out
    }
}

/// One thing about a request an engine does not simulate.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Gap {
    /// More discriminator features than it has (`model.p`).
    Features,
    /// A constraint it does not keep (`model.constraint`).
    Constraint,
    /// `model.l1 > 0` in this mode.
    L1,
    /// This `sim.mode`.
    Mode,
    /// This loss.
    Loss,
    /// Gaussian initial rows.
    Rows,
}

impl Gap {
    /// Whether the engine's declared fallback takes the request over.
    fn is_shape(&self) -> bool {
        matches!(self, Gap::Features | Gap::Constraint)
    }

    /// The model key that would have to change if no engine simulates it.
    fn model_key(&self) -> &'static str {
        match self {
            Gap::Features => "model.p",
            Gap::Constraint => "model.constraint",
            Gap::L1 => "model.l1",
            Gap::Mode => "sim.mode",
            Gap::Loss => "model.loss",
            Gap::Rows => "init.row_cov",
        }
    }

    /// The request's property, in words.
    fn condition(&self, model: &Model, mode: StepMode) -> String {
        match self {
            Gap::Features => format!("model.p = {} > 1", model.p()),
            Gap::Constraint => format!("model.constraint = \"{}\"", constraint_name(model)),
            Gap::L1 => "model.l1 > 0".to_owned(),
            Gap::Mode => format!("sim.mode = \"{}\"", mode_name(mode)),
            Gap::Loss => format!("model.loss = {:?}", model.loss()),
            Gap::Rows => "init.row_cov is given".to_owned(),
        }
    }

    fn reason(&self, r: &Reasons) -> &'static str {
        match self {
            Gap::Features => r.features,
            Gap::Constraint => r.constraint,
            Gap::L1 => r.l1,
            Gap::Mode => r.modes,
            Gap::Loss => r.loss,
            Gap::Rows => r.rows,
        }
    }
}

fn constraint_name(model: &Model) -> &'static str {
    match model.constraint() {
        Constraint::Columns => "columns",
        Constraint::Orthonormal => "orthonormal",
    }
}

fn mode_name(mode: StepMode) -> &'static str {
    match mode {
        StepMode::Fast => "fast",
        StepMode::Literal => "literal",
    }
}

/// The parts of a request the registry checks.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The model.
    pub model: &'a Model,
    /// `sim.mode`.
    pub mode: StepMode,
    /// Whether the initial state has Gaussian rows (`init.row_cov`).
    pub gaussian_rows: bool,
}

impl<'a> Request<'a> {
    /// The request of `model` started from `init` with step `mode`.
    pub fn new(model: &'a Model, init: &InitState, mode: StepMode) -> Self {
        Self {
            model,
            mode,
            gaussian_rows: init.row_cov.is_some(),
        }
    }

    fn with_mode(self, mode: StepMode) -> Self {
        Self { mode, ..self }
    }
}

impl EngineDecl {
    /// The first thing about `req` this engine does not simulate (shape, then the penalty,
    /// the mode, the loss, the initial rows).
    fn gap(&self, req: &Request<'_>) -> Option<Gap> {
        let m = req.model;
        if self.features == FeatureCount::One && m.p() > 1 {
            return Some(Gap::Features);
        }
        if !self.constraints.contains(&m.constraint()) {
            return Some(Gap::Constraint);
        }
        let mode_applies = !self.modes.is_empty();
        if m.l1() > 0.0
            && !(self.l1_modes.contains(&req.mode) || (!mode_applies && !self.l1_modes.is_empty()))
        {
            return Some(Gap::L1);
        }
        if mode_applies && !self.modes.contains(&req.mode) {
            return Some(Gap::Mode);
        }
        if self.losses == LossSupport::QuadraticOnly && m.loss() != Loss::Quadratic {
            return Some(Gap::Loss);
        }
        if req.gaussian_rows && !self.gaussian_rows {
            return Some(Gap::Rows);
        }
        None
    }

    /// The model key of the first thing about `req` this engine itself does not simulate
    /// (`model.p`, `model.constraint`, `model.l1`, `sim.mode`, `model.loss`,
    /// `init.row_cov`), or None when it simulates `req` (its fallback aside).
    pub fn unsupported(&self, req: &Request<'_>) -> Option<&'static str> {
        self.gap(req).map(|g| g.model_key())
    }

    /// The engine that runs `req` under this engine's name ([`EngineDecl::fallback`] for
    /// shapes it does not simulate) and what that engine does not simulate of it.
    fn runner(&self, req: &Request<'_>) -> (&'static EngineDecl, Option<Gap>) {
        let own = self.kind.decl();
        match (own.gap(req), own.fallback) {
            (Some(g), Some(f)) if g.is_shape() => {
                let f = f.decl();
                (f, f.gap(req))
            }
            (g, _) => (own, g),
        }
    }

    /// Whether this engine (or its fallback) runs `req` in some step mode.
    fn runs_in_some_mode(&self, req: &Request<'_>) -> Option<StepMode> {
        [req.mode, StepMode::Literal, StepMode::Fast]
            .into_iter()
            .find(|&mode| self.runner(&req.with_mode(mode)).1.is_none())
    }
}

/// The engine that simulates `req` when `sim.engine = requested` (the requested engine, or
/// its declared fallback for a model shape it does not simulate), or the refusal naming
/// the key to change: `sim.mode` when this engine simulates the request in another mode,
/// `sim.engine` when another engine simulates it, else the model key no engine simulates.
/// `prefix` is the sim table's path (`sim`).
pub fn resolve(
    requested: EngineKind,
    req: &Request<'_>,
    prefix: &str,
) -> Result<EngineKind, ParamError> {
    let (runner, gap) = requested.decl().runner(req);
    let Some(gap) = gap else {
        return Ok(runner.kind);
    };
    // A mode the runner lacks is asked of it because of the requested engine's model shape
    // (e.g. "full" runs p > 1 on the multi-feature engine): name that shape.
    let cond = match (&gap, requested.decl().gap(req)) {
        (Gap::Mode, Some(shape)) if runner.kind != requested => {
            shape.condition(req.model, req.mode)
        }
        (Gap::Mode, _) => format!("{prefix}.engine = \"{}\"", runner.name),
        _ => gap.condition(req.model, req.mode),
    };
    let why = gap.reason(&runner.reasons);
    if let Some(mode) = requested.decl().runs_in_some_mode(req) {
        return Err(ParamError::rule(
            format!("{prefix}.mode"),
            format!("must be \"{}\" when {cond} ({why})", mode_name(mode)),
        ));
    }
    let others: Vec<String> = EngineKind::ALL
        .into_iter()
        .filter(|&k| k != requested && k != runner.kind)
        .filter_map(|k| {
            k.decl().runs_in_some_mode(req).map(|mode| {
                if k.decl().runner(&req.with_mode(mode)).0.modes.is_empty() || mode == req.mode {
                    format!("\"{}\"", k.name())
                } else {
                    format!(
                        "\"{}\" (with {prefix}.mode = \"{}\")",
                        k.name(),
                        mode_name(mode)
                    )
                }
            })
        })
        .collect();
    if !others.is_empty() {
        return Err(ParamError::rule(
            format!("{prefix}.engine"),
            format!(
                "must be {} when {cond}: \"{}\" does not simulate it ({why})",
                others.join(" or "),
                requested.name()
            ),
        ));
    }
    let key = gap.model_key();
    Err(ParamError::rule(
        key,
        format!(
            "cannot be simulated: no engine simulates {cond} together with the rest of this model ({}: {why})",
            runner.name
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_tags_and_lanes_are_distinct_and_round_trip() {
        for k in EngineKind::ALL {
            assert_eq!(k.decl().kind, k);
            assert_eq!(EngineKind::from_name(k.name()), Some(k));
            assert_eq!(
                EngineKind::from_checkpoint_tag(k.decl().checkpoint_tag),
                Some(k)
            );
            assert!(k.decl().lanes >= 1);
            assert_eq!(
                k.decl().microscopic,
                (k.decl().vectors)(2, 1, StepMode::Literal) > 0
            );
        }
        assert_eq!(EngineKind::names(), "full, gram, multi");
    }

    /// A config's `sim.engine` (serde) and `--engine` (the declared name) spell an engine
    /// alike.
    #[test]
    fn serde_spells_the_declared_name() {
        use serde::de::{IntoDeserializer, value::Error};
        for k in EngineKind::ALL {
            let de = IntoDeserializer::<Error>::into_deserializer(k.name());
            assert_eq!(EngineKind::deserialize(de), Ok(k));
        }
    }
}
