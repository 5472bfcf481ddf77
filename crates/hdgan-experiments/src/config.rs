//! Run configurations: the TOML file a user writes, its validation, and the embedded
//! default (Figure 1's successful run).

use crate::{Error, Result};
use hdgan_core::ParamError;
use hdgan_macro_ode::{HForm, OdeKind, OdeOptions};
use hdgan_micro_sim::{InitConfig, InitState, Schedule, SimConfig, SimSettings};
use hdgan_model::{Model, ModelConfig};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The embedded default configuration: Figure 1, left panel (successful training).
pub const DEFAULT_CONFIG: &str = include_str!("../../../configs/fig1-success.toml");
/// Name of the embedded default (used for its output folder).
pub const DEFAULT_NAME: &str = "fig1-success";

/// A run configuration file. Every table rejects unknown keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Free-text title, shown on plots.
    #[serde(default)]
    pub title: Option<String>,
    /// Seed of the random streams (member i uses stream (seed, i)). Default 1.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The problem (THEORY §1).
    pub model: ModelConfig,
    /// The initial state.
    pub init: InitConfig,
    /// The simulation.
    pub sim: SimConfig,
    /// The limiting ODE.
    #[serde(default)]
    pub ode: OdeConfig,
    /// Output settings.
    #[serde(default)]
    pub output: OutputConfig,
}

fn default_seed() -> u64 {
    1
}

/// Which limiting ODE to solve.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OdeEquation {
    /// Reduced ODE (13) for lambda = inf, general ODE (8) otherwise.
    #[default]
    Auto,
    /// The general ODE (8) (finite lambda).
    General,
    /// The reduced ODE (13)-(14) (lambda = inf).
    Reduced,
}

/// The `[ode]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OdeConfig {
    /// Solve the ODE alongside the simulation (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Which ODE (default `"auto"`).
    #[serde(default)]
    pub equation: OdeEquation,
    /// Relative tolerance (default 1e-9).
    #[serde(default = "default_rtol")]
    pub rtol: f64,
    /// Absolute tolerance (default 1e-11).
    #[serde(default = "default_atol")]
    pub atol: f64,
    /// The linear-noise band (THEORY §10): `hdgan run` draws ODE +- 2 sd at the run's n
    /// around every plotted ODE curve and writes `ode_sd.csv`/`.npy`. Default (absent): on
    /// wherever the theory applies (p = 1, column normalisation, no `model.l1`); `true`
    /// refuses a model it does not cover; `false` turns it off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub band: Option<bool>,
}

impl Default for OdeConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            equation: OdeEquation::Auto,
            rtol: default_rtol(),
            atol: default_atol(),
            band: None,
        }
    }
}

fn yes() -> bool {
    true
}
fn default_rtol() -> f64 {
    OdeOptions::default().rtol
}
fn default_atol() -> f64 {
    OdeOptions::default().atol
}

/// The `[output]` table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// Output folder (default `out/<config name>`); `--out` overrides it.
    #[serde(default)]
    pub dir: Option<PathBuf>,
}

/// A configuration that passed every check, in the types the engines accept. Built by
/// [`RunConfig::validate`] only and read through its getters: the pipelines read the
/// validated values; the configuration as given is kept for provenance
/// ([`ValidRun::config`]).
#[derive(Clone, Debug)]
pub struct ValidRun {
    name: String,
    config: RunConfig,
    seed: u64,
    model: Model,
    init: InitState,
    sim: SimSettings,
    schedule: Schedule,
    ode: Option<(OdeKind, OdeOptions)>,
    band: bool,
}

/// Reads a config file (or the embedded default when `path` is None) without validating
/// it. Errors are one line and name the file, line and key.
pub fn load(path: Option<&Path>) -> Result<(String, RunConfig)> {
    match path {
        None => parse(DEFAULT_CONFIG, "<embedded default>").map(|c| (DEFAULT_NAME.to_owned(), c)),
        Some(p) => {
            let (name, text) = read_file(p)?;
            parse(&text, &p.display().to_string()).map(|c| (name, c))
        }
    }
}

/// Reads a config file: its name (file stem) and text; a missing or unreadable file is an
/// [`Error::Read`].
pub fn read_file(p: &Path) -> Result<(String, String)> {
    let text = std::fs::read_to_string(p).map_err(|error| Error::Read {
        what: "config file",
        path: p.to_path_buf(),
        error,
    })?;
    let name = p
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".to_owned());
    Ok((name, text))
}

/// Parses TOML text into a [`RunConfig`]; `origin` names the source in errors.
pub fn parse(text: &str, origin: &str) -> Result<RunConfig> {
    parse_toml(text, origin)
}

/// Parses TOML text into any config type, with one-line errors ([`Error::Parse`]) naming
/// file, line and key.
pub fn parse_toml<T: serde::de::DeserializeOwned>(text: &str, origin: &str) -> Result<T> {
    toml::from_str::<T>(text).map_err(|e| toml_error(text, origin, &e))
}

/// A TOML error as [`Error::Parse`]: file, line, the key's full dotted path when the error
/// is about a key, and the rule, on one line.
fn toml_error(text: &str, origin: &str, e: &toml::de::Error) -> Error {
    let msg = humanize(&e.message().replace('\n', " "));
    let parse = |line: Option<usize>, key: Option<String>, message: String| Error::Parse {
        origin: origin.to_owned(),
        line,
        key,
        message,
    };
    let Some(span) = e.span() else {
        return parse(None, None, msg);
    };
    if let Some(field) = msg
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
    {
        // The span covers the table the key is missing from: name that table's key.
        let line_no = text[..span.start.min(text.len())].matches('\n').count() + 1;
        const TOP: [&str; 9] = [
            "model", "init", "sim", "phase", "measure", "ode", "output", "title", "seed",
        ];
        let table = if span.start == 0 && TOP.contains(&field) {
            String::new()
        } else {
            // The last table header at or above the span's first line.
            let upto = text[span.start.min(text.len())..]
                .find('\n')
                .map_or(text.len(), |k| span.start + k);
            text[..upto]
                .lines()
                .rev()
                .find_map(|l| {
                    let t = l.trim();
                    (t.starts_with('[') && t.ends_with(']'))
                        .then(|| t.trim_matches(|c| c == '[' || c == ']').trim().to_owned())
                })
                .unwrap_or_default()
        };
        let full = if table.is_empty() {
            field.to_owned()
        } else {
            format!("{table}.{field}")
        };
        let what = if text
            .lines()
            .any(|l| l.trim().starts_with(&format!("[{full}")))
        {
            "key"
        } else if ["model", "init", "sim", "phase", "measure"].contains(&full.as_str()) {
            "table"
        } else {
            "key"
        };
        let message = format!("config {what} `{full}` is missing (it is required)");
        return parse(Some(line_no), Some(full), message);
    }
    let line_no = text[..span.start.min(text.len())].matches('\n').count() + 1;
    // The table the offending line belongs to: the last `[header]` above it.
    let table = text[..span.start.min(text.len())]
        .lines()
        .rev()
        .find_map(|l| {
            let t = l.trim();
            (t.starts_with('[') && t.ends_with(']'))
                .then(|| t.trim_matches(|c| c == '[' || c == ']').trim().to_owned())
        })
        .unwrap_or_default();
    let key = if let Some(field) = msg
        .strip_prefix("unknown field `")
        .and_then(|r| r.split('`').next())
    {
        // In an inline table (`loss = { name = "logistic", bais = 1 }`) the field belongs
        // to the key on the left.
        let inline = text
            .lines()
            .nth(line_no - 1)
            .and_then(|l| l.split_once('='))
            .filter(|(_, v)| v.trim_start().starts_with('{'))
            .map(|(k, _)| k.trim().to_owned())
            .filter(|k| !k.is_empty() && !k.starts_with('['));
        Some(inline.map_or_else(|| field.to_owned(), |k| format!("{k}.{field}")))
    } else {
        text.lines()
            .nth(line_no - 1)
            .and_then(|l| l.split_once('='))
            .map(|(k, _)| k.trim().to_owned())
            .filter(|k| !k.is_empty() && !k.starts_with('['))
    };
    // An error on a table header line itself (`[phase]` where no such table exists) is
    // about that table, not a key of the table above it.
    let header_line = text
        .lines()
        .nth(line_no - 1)
        .map(str::trim)
        .filter(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
    let (table, key) = match header_line {
        Some(h) => {
            let parent = h
                .rsplit_once('.')
                .map(|(p, _)| p.to_owned())
                .unwrap_or_default();
            (parent, key)
        }
        None => (table, key),
    };
    let full_key = match (table.is_empty(), key) {
        (_, None) => table.clone(),
        (true, Some(k)) => k,
        (false, Some(k)) => format!("{table}.{k}"),
    };
    if full_key.is_empty() {
        parse(Some(line_no), None, msg)
    } else {
        let message = format!("config key `{full_key}`: {msg}");
        parse(Some(line_no), Some(full_key), message)
    }
}

/// Rewrites serde's wording for users: no Rust type names (`usize`, `struct
/// ModelConfig`, `as i128`).
fn humanize(msg: &str) -> String {
    let mut m = msg.replace(" as i128", "").replace(" as u128", "");
    for (rust, human) in [
        ("expected usize", "expected a whole number >= 0"),
        ("expected u64", "expected a whole number >= 0"),
        ("expected u32", "expected a whole number >= 0"),
        ("expected u8", "expected a whole number from 0 to 255"),
        ("expected i64", "expected a whole number"),
        ("expected f64", "expected a number"),
        ("expected option", "expected a value"),
        ("expected unit", "expected nothing"),
        ("wanted string or table", "expected a name in quotes"),
    ] {
        m = m.replace(rust, human);
    }
    for prefix in [
        "expected struct ",
        "expected tuple struct ",
        "expected enum ",
    ] {
        while let Some(i) = m.find(prefix) {
            let rest = &m[i + prefix.len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let what = if prefix == "expected enum " {
                "expected one of the names listed in configs/reference.toml"
            } else {
                "expected a table"
            };
            m = format!("{}{what}{}", &m[..i], &rest[end..]);
        }
    }
    m
}

impl RunConfig {
    /// Validates everything once and builds the engine-facing types. `name` labels outputs.
    pub fn validate(&self, name: &str) -> Result<ValidRun, ParamError> {
        let model = self.model.validate("model")?;
        let init = self.init.validate("init", &model)?;
        let sim = self.sim.settings("sim", &model, &init)?;
        let multi_engine = sim.engine.decl().records == hdgan_micro_sim::Records::Multi;
        if self.sim.record_dt > self.sim.t_end {
            return Err(ParamError::rule(
                "sim.record_dt",
                format!(
                    "must be <= sim.t_end ({}), got {}",
                    self.sim.t_end, self.sim.record_dt
                ),
            ));
        }
        let schedule = Schedule::from_times(model.n(), self.sim.t_end, self.sim.record_dt)?;
        if multi_engine && self.ode.equation != OdeEquation::Auto {
            return Err(ParamError::rule(
                "ode.equation",
                format!(
                    "must be \"auto\" when the multi-feature engine runs (model.p = {}, model.constraint = {:?}, sim.engine = \"{}\"): its ODE is the multi-feature one, THEORY section 8, for finite and infinite lambda",
                    model.p(),
                    model.constraint(),
                    self.sim.engine.name()
                ),
            ));
        }
        if model.l1() > 0.0 && self.ode.enabled {
            return Err(ParamError::rule(
                "ode.enabled",
                "must be false when model.l1 > 0: the macroscopic ODE does not close with an elementwise penalty",
            ));
        }
        let ode = if self.ode.enabled {
            let rtol = hdgan_core::check_relative_tolerance("ode.rtol", self.ode.rtol)?;
            let atol = hdgan_core::check_positive("ode.atol", self.ode.atol)?;
            let kind = match self.ode.equation {
                OdeEquation::Auto => OdeKind::for_model(&model),
                OdeEquation::General => {
                    if model.lambda().is_infinite() {
                        return Err(ParamError::rule(
                            "ode.equation",
                            "\"general\" needs a finite model.lambda (use \"reduced\" for lambda = inf)",
                        ));
                    }
                    OdeKind::General(HForm::Corrected)
                }
                OdeEquation::Reduced => {
                    if !model.lambda().is_infinite() {
                        return Err(ParamError::rule(
                            "ode.equation",
                            "\"reduced\" describes lambda = inf only; model.lambda is finite",
                        ));
                    }
                    OdeKind::Reduced
                }
            };
            Some((
                kind,
                OdeOptions {
                    rtol,
                    atol,
                    ..OdeOptions::default()
                },
            ))
        } else {
            None
        };
        let supported = hdgan_stability::check_supported(&model);
        let band = match (self.ode.band, &ode) {
            (Some(false), _) => false,
            (Some(true), None) => {
                return Err(ParamError::rule(
                    "ode.band",
                    "needs ode.enabled = true (the band surrounds the ODE)",
                ));
            }
            (Some(true), Some(_)) if multi_engine => {
                return Err(ParamError::rule(
                    "ode.band",
                    "the fluctuation theory covers the single-feature engines only (the multi-feature engine runs this config)",
                ));
            }
            (Some(true), Some(_)) => match supported {
                Ok(()) => true,
                Err(hdgan_stability::LnaError::Unsupported { key, rule }) => {
                    return Err(ParamError::rule(
                        "ode.band",
                        format!("the fluctuation theory does not cover this model ({key}: {rule})"),
                    ));
                }
                Err(e) => return Err(ParamError::rule("ode.band", e.to_string())),
            },
            (None, ode) => ode.is_some() && supported.is_ok() && !multi_engine,
        };
        let mut config = self.clone();
        config.model = self.model.normalized();
        Ok(ValidRun {
            name: name.to_owned(),
            config,
            seed: self.seed,
            model,
            init,
            sim,
            schedule,
            ode,
            band,
        })
    }
}

/// A config that holds at least a `[model]` table (other tables are ignored).
#[derive(Deserialize)]
struct ModelOnly {
    model: ModelConfig,
}

/// Parses and validates the `[model]` table of any config, ignoring its other tables
/// (`hdgan modes` without `--run`, `hdgan fixed-points`); `origin` names the source in
/// errors.
pub fn model_only(text: &str, origin: &str) -> Result<Model> {
    let cfg: ModelOnly = parse_toml(text, origin)?;
    Ok(cfg.model.validate("model")?)
}

impl ValidRun {
    /// Short name (file stem of the config, or the default's name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The configuration as given (lambda normalised), for provenance only: `run.json`
    /// and the `config.toml` written with the outputs. Pipelines read the validated
    /// values of the other getters.
    pub fn config(&self) -> &RunConfig {
        &self.config
    }

    /// Free-text title (`title`), shown on plots.
    pub fn title(&self) -> Option<&str> {
        self.config.title.as_deref()
    }

    /// Output folder from the config (`output.dir`), if any.
    pub fn output_dir(&self) -> Option<&Path> {
        self.config.output.dir.as_deref()
    }

    /// Seed of the random streams (member i uses stream `(seed, i)`).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The validated problem.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The validated initial state.
    pub fn init(&self) -> &InitState {
        &self.init
    }

    /// The validated simulation settings (final time and record interval as given,
    /// engine asked for and engine that runs, step, members, divergence bound).
    pub fn sim(&self) -> &SimSettings {
        &self.sim
    }

    /// Steps and recording cadence.
    pub fn schedule(&self) -> Schedule {
        self.schedule
    }

    /// The ODE to solve, if enabled.
    pub fn ode(&self) -> Option<(OdeKind, OdeOptions)> {
        self.ode
    }

    /// Whether the run computes the linear-noise band (`ode.band`, resolved).
    pub fn band(&self) -> bool {
        self.band
    }

    /// Refuses a multi-feature model (`model.p > 1`) where only the single-feature
    /// pipeline applies; `what` names the caller in the error.
    pub fn require_single_feature(&self, what: &str) -> Result<()> {
        Ok(self.model.require_single_feature(what)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Figure 1's run config at n = 200 with `lines` added to `[model]`.
    fn with_model_lines(lines: &str) -> RunConfig {
        let text = crate::reference::figure1_config(200, 2.0);
        let text = text.replacen("[model]\n", &format!("[model]\n{lines}\n"), 1);
        parse(&text, "test").unwrap_or_else(|e| panic!("{lines}: {e}"))
    }

    fn refused(lines: &str) -> ParamError {
        with_model_lines(lines)
            .validate("t")
            .map(|_| ())
            .expect_err("refused")
    }

    /// `loss = { name = "logistic", bias = b }` is the same model as the flat keys
    /// `loss = "logistic"` and `loss_bias = b`; only the flat form has a deprecation note,
    /// and the replacement it suggests is the same model again.
    #[test]
    fn loss_table_equals_the_flat_keys() {
        for b in ["0.5", "1.0", "-2.5"] {
            let flat = with_model_lines(&format!("loss = \"logistic\"\nloss_bias = {b}"));
            let table = with_model_lines(&format!("loss = {{ name = \"logistic\", bias = {b} }}"));
            let header = {
                let text = crate::reference::figure1_config(200, 2.0);
                let text = format!("{text}\n[model.loss]\nname = \"logistic\"\nbias = {b}\n");
                parse(&text, "test").unwrap()
            };
            let (vf, vt, vh) = (
                flat.validate("f").unwrap(),
                table.validate("t").unwrap(),
                header.validate("h").unwrap(),
            );
            assert_eq!(vf.model(), vt.model());
            assert_eq!(vf.model(), vh.model());
            assert!(vt.model().deprecations().is_empty());
            let notes = vf.model().deprecations();
            assert_eq!(notes.len(), 1, "{notes:?}");
            assert!(
                notes[0].contains("`model.loss_bias` is deprecated")
                    && notes[0].contains("model.loss = {")
                    && !notes[0].contains('\n'),
                "{}",
                notes[0]
            );
            let suggested = notes[0]
                .split("write ")
                .nth(1)
                .and_then(|s| s.strip_suffix(" instead"))
                .and_then(|s| s.strip_prefix("model."))
                .unwrap();
            let again = with_model_lines(suggested).validate("s").unwrap();
            assert_eq!(again.model(), vf.model(), "{suggested}");
        }
        // Without a bias: the default 1 in either form.
        let name = with_model_lines("loss = \"logistic\"")
            .validate("n")
            .unwrap();
        let table = with_model_lines("loss = { name = \"logistic\" }")
            .validate("t")
            .unwrap();
        let one = with_model_lines("loss = { name = \"logistic\", bias = 1.0 }")
            .validate("o")
            .unwrap();
        assert_eq!(name.model(), table.model());
        assert_eq!(name.model(), one.model());
        assert!(name.model().deprecations().is_empty());
        // The names the notes write are the names configs read.
        for name in [
            hdgan_model::LossName::Quadratic,
            hdgan_model::LossName::Logistic,
            hdgan_model::LossName::LogisticLinear,
        ] {
            let c = with_model_lines(&format!("loss = \"{}\"", name.as_str()));
            assert_eq!(c.model.loss.name(), name);
            let m = c.validate("n").unwrap();
            assert_eq!(m.model().loss().name(), name);
        }
        for (lines, loss) in [
            (
                "loss = { name = \"quadratic\" }",
                hdgan_model::Loss::Quadratic,
            ),
            (
                "loss = { name = \"logistic-linear\" }",
                hdgan_model::Loss::LogisticLinear,
            ),
        ] {
            let m = with_model_lines(lines).validate("q").unwrap();
            assert_eq!(m.model().loss(), loss, "{lines}");
        }
    }

    /// What `run.json` and `config.toml` record: the form the config used, so that the
    /// flat keys are written exactly as before.
    #[test]
    fn loss_config_is_written_back_in_its_form() {
        let value = |c: &RunConfig| toml::Value::try_from(&c.model).unwrap();
        let flat = value(&with_model_lines("loss = \"logistic\"\nloss_bias = 1.0"));
        assert_eq!(flat.get("loss"), Some(&toml::Value::from("logistic")));
        assert_eq!(flat.get("loss_bias"), Some(&toml::Value::from(1.0)));
        let plain = value(&with_model_lines(""));
        assert_eq!(plain.get("loss"), Some(&toml::Value::from("quadratic")));
        assert!(plain.get("loss_bias").is_none());
        let table = with_model_lines("loss = { name = \"logistic\", bias = 0.5 }");
        let loss = value(&table).get("loss").cloned().unwrap();
        assert_eq!(loss.get("name"), Some(&toml::Value::from("logistic")));
        assert_eq!(loss.get("bias"), Some(&toml::Value::from(0.5)));
        assert!(value(&table).get("loss_bias").is_none());
        let text = toml::to_string(&table).unwrap();
        assert_eq!(parse(&text, "again").unwrap(), table);
    }

    #[test]
    fn loss_table_rules_name_their_keys() {
        // Both forms at once.
        let e = refused("loss = { name = \"logistic\", bias = 1.0 }\nloss_bias = 1.0");
        assert_eq!(e.key(), "model.loss_bias", "{e}");
        assert!(e.to_string().contains("model.loss.bias"), "{e}");
        let e = refused("loss = { name = \"logistic\" }\nloss_bias = 1.0");
        assert_eq!(e.key(), "model.loss_bias", "{e}");
        // A bias for a loss without one.
        for name in ["quadratic", "logistic-linear"] {
            let e = refused(&format!("loss = {{ name = \"{name}\", bias = 1.0 }}"));
            assert_eq!(e.key(), "model.loss.bias", "{e}");
            assert!(e.to_string().contains("\"logistic\" only"), "{e}");
        }
        let e = refused("loss = { name = \"logistic\", bias = nan }");
        assert_eq!(e.key(), "model.loss.bias", "{e}");
        // The flat key keeps its rules and key.
        let e = refused("loss_bias = 2.0");
        assert_eq!(e.key(), "model.loss_bias", "{e}");
        assert!(e.to_string().contains("loss = \"logistic\" only"), "{e}");
        // Unknown keys and names in the table are parse errors naming model.loss.
        let text = crate::reference::figure1_config(200, 2.0).replacen(
            "[model]\n",
            "[model]\nloss = { name = \"logistic\", bais = 1.0 }\n",
            1,
        );
        let e = parse(&text, "test").unwrap_err();
        assert!(
            e.to_string().contains("config key `model.loss.bais`")
                && e.to_string().contains("unknown field"),
            "{e}"
        );
        let text = crate::reference::figure1_config(200, 2.0).replacen(
            "[model]\n",
            "[model]\nloss = { name = \"hinge\" }\n",
            1,
        );
        let e = parse(&text, "test").unwrap_err();
        assert!(
            e.to_string().contains("model.loss") && e.to_string().contains("hinge"),
            "{e}"
        );
        let text = crate::reference::figure1_config(200, 2.0).replacen(
            "[model]\n",
            "[model]\nloss = 3\n",
            1,
        );
        let e = parse(&text, "test").unwrap_err();
        assert!(e.to_string().contains("model.loss"), "{e}");
    }
}
