//! Capabilities are explicit: an engine, step or analysis refuses a model it does not
//! describe, with an error naming the config key, instead of switching silently.

use hdgan_experiments::reference;
use hdgan_micro_sim::{AnyEngine, DEFAULT_BLOWUP, EngineKind, Sgda, StepMode};
use hdgan_model::random::stream_rng;
use hdgan_model::{LambdaValue, ModelConfig};
use std::path::PathBuf;

fn with_l1() -> hdgan_model::Model {
    let mut c = ModelConfig::figure1(200, 2.0);
    c.l1 = 0.5;
    c.validate("model").unwrap()
}

#[test]
fn fast_step_refuses_l1_naming_sim_mode() {
    let m = with_l1();
    let init = reference::figure1_init(&m).unwrap();
    let e = Sgda::new(
        &m,
        init.build(m.n(), &mut stream_rng(1, 0)),
        StepMode::Fast,
        DEFAULT_BLOWUP,
    )
    .map(|_| ())
    .expect_err("the fast step must refuse l1 > 0");
    let msg = e.to_string();
    assert!(msg.contains("sim.mode") && msg.contains("literal"), "{msg}");
    // The literal step simulates it.
    Sgda::new(
        &m,
        init.build(m.n(), &mut stream_rng(1, 0)),
        StepMode::Literal,
        DEFAULT_BLOWUP,
    )
    .unwrap();
}

#[test]
fn gram_engine_refuses_l1_naming_sim_engine() {
    let m = with_l1();
    let init = reference::figure1_init(&m).unwrap();
    let e = AnyEngine::build(
        EngineKind::Gram,
        &m,
        &init,
        StepMode::Literal,
        DEFAULT_BLOWUP,
        &mut stream_rng(1, 0),
    )
    .map(|_| ())
    .expect_err("the Gram engine must refuse l1 > 0");
    assert!(e.to_string().contains("sim.engine"), "{e}");
}

#[test]
fn run_config_with_l1_and_fast_step_is_refused_naming_sim_mode() {
    let text = reference::figure1_config(200, 2.0).replace("[model]\n", "[model]\nl1 = 0.5\n")
        + "mode = \"fast\"\n[ode]\nenabled = false\n";
    let e = hdgan_experiments::config::parse(&text, "test")
        .unwrap()
        .validate("t")
        .map(|_| ())
        .expect_err("refused");
    assert!(e.to_string().contains("sim.mode"), "{e}");
}

/// A shipped config with `p = 2` added to its `[model]` table, in a temporary folder.
fn with_p2(name: &str, dir: &tempfile::TempDir) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let text = std::fs::read_to_string(root.join(name)).unwrap();
    assert!(text.contains("[model]\n"));
    let path = dir.path().join(name);
    std::fs::write(&path, text.replacen("[model]\n", "[model]\np = 2\n", 1)).unwrap();
    path
}

/// `e` is a refusal of bad input naming the config key `key`.
fn assert_input_naming(e: &hdgan_experiments::Error, key: &str) {
    assert_eq!(e.kind(), hdgan_experiments::ErrorKind::Input, "{e}");
    assert_eq!(e.key().as_deref(), Some(key), "{e}");
    assert!(e.to_string().contains(key), "{e}");
}

#[test]
fn single_feature_analyses_refuse_p_above_one_naming_model_p() {
    let dir = tempfile::tempdir().unwrap();
    let phase = hdgan_experiments::phase::prepare_phase(&with_p2("phase-eta-alpha.toml", &dir))
        .map(|_| ())
        .expect_err("phase refuses p = 2");
    assert_input_naming(&phase, "model.p");
    let measure = hdgan_experiments::measure::prepare_measure(&with_p2("fig2.toml", &dir))
        .map(|_| ())
        .expect_err("measure refuses p = 2");
    assert_input_naming(&measure, "model.p");
    let modes = hdgan_experiments::modes::prepare_modes(
        &with_p2("fig1-success.toml", &dir),
        false,
        None,
        None,
    )
    .map(|_| ())
    .expect_err("modes refuses p = 2");
    assert_input_naming(&modes, "model.p");
    let fixed = hdgan_experiments::phase::fixed_points_model(&with_p2("fig1-success.toml", &dir))
        .map(|_| ())
        .expect_err("fixed points refuse p = 2");
    assert_input_naming(&fixed, "model.p");
}

#[test]
fn quadratic_loss_is_accepted_everywhere_it_is_required() {
    // Today's only loss passes every `require_quadratic`; a new loss fails them with an
    // error naming `model.loss` (see ARCHITECTURE.md, "How to add a loss").
    let m = reference::figure2(500, LambdaValue::default(), 0.0).unwrap();
    m.require_quadratic("test").unwrap();
}

/// `text` with `line` added at the top of its `[model]` table.
fn in_model(text: &str, line: &str) -> String {
    assert!(text.contains("[model]\n"));
    text.replacen("[model]\n", &format!("[model]\n{line}\n"), 1)
}

/// A shipped config with `loss = "logistic"`, in a temporary folder.
fn logistic_config(name: &str, dir: &tempfile::TempDir) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let text = std::fs::read_to_string(root.join(name)).unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, in_model(&text, "loss = \"logistic\"")).unwrap();
    path
}

fn run_error(text: &str) -> String {
    hdgan_experiments::config::parse(text, "test")
        .unwrap()
        .validate("t")
        .map(|_| ())
        .expect_err("refused")
        .to_string()
}

#[test]
fn non_quadratic_loss_is_taken_by_every_tool_that_can_and_refused_by_the_rest() {
    let base = reference::figure1_config(200, 2.0);
    let logistic = in_model(&base, "loss = \"logistic\"");
    // The reduced ODE (lambda = inf) takes any loss through its averages (THEORY §4.1).
    hdgan_experiments::config::parse(&logistic, "test")
        .unwrap()
        .validate("t")
        .unwrap();
    let mut c = ModelConfig::figure1(200, 2.0);
    c.loss = hdgan_model::LossName::Logistic.into();
    let m = c.validate("model").unwrap();
    // The multi-feature engine.
    let init = reference::figure1_init(&m).unwrap();
    let e = hdgan_micro_sim::MultiSgda::new(&m, &init, DEFAULT_BLOWUP, &mut stream_rng(1, 0))
        .map(|_| ())
        .expect_err("the multi-feature engine refuses a logistic loss");
    assert!(e.to_string().contains("model.loss"), "{e}");
    // Phase maps and fixed points take any loss (ODE, Jacobian and search for any loss;
    // Claim 1's closed form only for the quadratic one); the effective modes do not.
    let dir = tempfile::tempdir().unwrap();
    let phase =
        hdgan_experiments::phase::prepare_phase(&logistic_config("phase-eta-alpha.toml", &dir))
            .unwrap();
    assert_eq!(hdgan_stability::claim1(&phase.model), None);
    // The row SDE's drift stays linear in the row variables for any loss (THEORY §5), so
    // `hdgan measure` takes a logistic loss.
    hdgan_experiments::measure::prepare_measure(&logistic_config("fig2.toml", &dir)).unwrap();
    let modes = hdgan_experiments::modes::prepare_modes(
        &logistic_config("fig1-success.toml", &dir),
        false,
        None,
        None,
    )
    .map(|_| ())
    .expect_err("modes refuse a logistic loss");
    assert_input_naming(&modes, "model.loss");
    let mut d1 = ModelConfig::figure1(200, 2.0);
    d1.d = 1;
    d1.latent = hdgan_model::LatentConfig::diagonal(&[5.0]);
    d1.latent_tilde = None;
    d1.loss = hdgan_model::LossName::Logistic.into();
    let fixed = hdgan_experiments::phase::fixed_points_for(&d1.validate("model").unwrap());
    assert!(fixed.iter().all(|f| f.residual < 1e-11), "{fixed:?}");
    // A bias with another loss is a contradiction.
    let e = run_error(&in_model(&base, "loss_bias = 2.0"));
    assert!(e.contains("model.loss_bias"), "{e}");
}

#[test]
fn logistic_loss_runs_with_every_engine_and_the_general_ode() {
    let base = in_model(
        &in_model(&reference::figure1_config(300, 2.0), "loss = \"logistic\""),
        "lambda = 5.0",
    )
    .replace("lambda = \"inf\"\n", "");
    for sim in [
        "mode = \"literal\"\n",
        "mode = \"fast\"\n",
        "engine = \"gram\"\n",
    ] {
        let valid = hdgan_experiments::run::prepare(&hdgan_experiments::run::RunSource {
            config: hdgan_experiments::run::ConfigSource::Text {
                name: "logistic".into(),
                origin: "test".into(),
                text: format!("{base}{sim}"),
            },
            ..Default::default()
        })
        .unwrap();
        let run = hdgan_experiments::run::simulate(&valid, Some(1), Default::default()).unwrap();
        assert_eq!(run.sim[0].times.len(), 3);
        assert_eq!(run.ode.as_ref().map(|o| o.times.len()), Some(3));
    }
}

/// The orthonormal constraint with one discriminator feature (V kept orthonormal) runs
/// through the single-feature pipeline (`simulate`, hence `hdgan run` and `hdgan modes
/// --run`) on the literal multi-feature engine: V^T V = I at every record, the ODE is the
/// orthonormal model's (S = I throughout), and the modes view applies.
#[test]
fn orthonormal_one_feature_runs_and_is_seen_by_the_modes() {
    let dir = tempfile::tempdir().unwrap();
    let text = in_model(
        &reference::figure1_config(400, 4.0),
        "constraint = \"orthonormal\"",
    ) + "mode = \"literal\"\n";
    let path = dir.path().join("orthonormal.toml");
    std::fs::write(&path, &text).unwrap();
    let modes = hdgan_experiments::modes::prepare_modes(&path, true, None, Some(1)).unwrap();
    let valid = modes.run.as_ref().unwrap();
    let run = hdgan_experiments::modes::run_in_modes(
        valid,
        &hdgan_experiments::modes::modes_of(&modes),
        Some(1),
        Default::default(),
    )
    .unwrap();
    let sim = &run.run.sim[0];
    let ode = run.run.ode.as_ref().unwrap();
    assert_eq!(sim.times.len(), 5);
    assert_eq!(ode.times, sim.times);
    let eye = hdgan_core::DMat::identity(2);
    for s in sim.states.iter().chain(&ode.states) {
        assert!(s.s.max_abs_diff(&eye) <= 1e-12, "S = {:?}", s.s);
        assert!((s.z - 1.0).abs() <= 1e-12);
    }
    // The ODE is the orthonormal model's: it differs from the reduced ODE (13) of the
    // column-normalised model from the same start (P0 = 0.1 I, q0 = (0.1, 0.1)).
    let reduced = hdgan_macro_ode::solve(
        valid.model(),
        hdgan_macro_ode::OdeKind::Reduced,
        &ode.states[0],
        &ode.times,
        &Default::default(),
    )
    .unwrap();
    let last = |t: &hdgan_core::Trajectory| t.states.last().unwrap().s[(0, 1)];
    assert!(last(&reduced).abs() > 1e-6 && last(ode).abs() <= 1e-12);
    assert_eq!(run.sim_modes.len(), 1);
}
