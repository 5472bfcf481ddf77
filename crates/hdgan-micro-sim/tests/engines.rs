//! The engine registry against the engines themselves, and checkpoints against the run
//! loop (through the public API only, so that no file of the crate imports back).

use hdgan_core::{ParamError, Trajectory};
use hdgan_micro_sim::{
    AnyEngine, Checkpoint, Engine, EngineKind, InitConfig, InitState, Member, MultiSgda, Records,
    Request, RunControl, Schedule, StepMode, advance, resolve, run,
};
use hdgan_model::random::{SimRng, stream_rng};
use hdgan_model::{Constraint, LambdaValue, LossName, Model, ModelConfig};

/// Every combination of the declared axes that the model itself accepts: p, the
/// constraint (lambda = inf) or a finite lambda, l1, the loss, Gaussian rows, the mode.
fn requests() -> Vec<(Model, InitState, StepMode, String)> {
    let mut out = Vec::new();
    for p in [1, 2] {
        for (orthonormal, finite) in [(false, false), (false, true), (true, false)] {
            for l1 in [0.0, 0.5] {
                for loss in [LossName::Quadratic, LossName::Logistic] {
                    for rows in [false, true] {
                        let mut c = ModelConfig::figure1(60, 2.0);
                        c.d = 1;
                        c.latent = hdgan_model::LatentConfig::diagonal(&[4.0]);
                        c.latent_tilde = None;
                        c.p = p;
                        c.l1 = l1;
                        c.loss = loss.into();
                        if orthonormal {
                            c.constraint = Constraint::Orthonormal;
                            c.lambda = LambdaValue::default();
                        }
                        if finite {
                            c.lambda = LambdaValue::Number(2.0);
                        }
                        let Ok(model) = c.validate("model") else {
                            continue;
                        };
                        let mut ic = InitConfig::diagonal(1, 0.1, 0.1);
                        if p > 1 {
                            ic.q0_cols = Some(vec![vec![0.1, 0.2]]);
                        }
                        if rows {
                            ic.row_cov = Some(vec![vec![0.5, 0.0], vec![0.0, 0.5]]);
                            if model.lambda().is_infinite() {
                                ic.row_cov = Some(vec![vec![0.99, 0.0], vec![0.0, 0.99]]);
                            }
                        }
                        let Ok(init) = ic.validate("init", &model) else {
                            continue;
                        };
                        for mode in [StepMode::Fast, StepMode::Literal] {
                            let what = format!(
                                "p {p}, orthonormal {orthonormal}, finite lambda {finite}, l1 {l1}, \
                                 {loss:?}, rows {rows}, {mode:?}"
                            );
                            out.push((model.clone(), init.clone(), mode, what));
                        }
                    }
                }
            }
        }
    }
    out
}

/// Builds engine `kind` for the request with its own constructor (not through the
/// registry) and takes a few steps: whether it ran.
fn engine_runs(kind: EngineKind, model: &Model, init: &InitState, mode: StepMode) -> bool {
    engine_lanes(kind, model, init, mode).is_some()
}

/// Builds engine `kind` for the request with its own constructor (not through the
/// registry) and takes a few steps: the members it asks the run loop to step together
/// ([`Engine::lanes`]) if it ran, None if it refused the request or failed.
///
/// A new engine adds its arm here.
fn engine_lanes(
    kind: EngineKind,
    model: &Model,
    init: &InitState,
    mode: StepMode,
) -> Option<usize> {
    fn steps<E: Engine>(mut e: E, rng: &mut SimRng) -> Option<usize> {
        (0..5).all(|_| e.step(rng).is_ok()).then(|| e.lanes())
    }
    let mut rng = stream_rng(5, 0);
    match kind {
        EngineKind::Full => {
            let e = hdgan_micro_sim::Sgda::new(model, init.build(model.n(), &mut rng), mode, 1e8)
                .ok()?;
            (e.macro_state().p.rows() == model.d()).then_some(())?;
            steps(e, &mut rng)
        }
        EngineKind::Gram => {
            let e = hdgan_micro_sim::GramEngine::from_micro(
                model,
                &init.build(model.n(), &mut rng),
                1e8,
            );
            steps(e, &mut rng)
        }
        EngineKind::Multi => steps(MultiSgda::new(model, init, 1e8, &mut rng).ok()?, &mut rng),
    }
}

/// The registry's answer agrees with the engines: every request it resolves is built
/// by [`AnyEngine::build`] or [`MultiSgda::new`] and runs; every refusal names the
/// `sim` or model key; an engine's own constructor refuses the requests its
/// declaration leaves out on the axes the constructor checks (the fast step with l1,
/// the multi-feature step with a non-quadratic loss) and accepts the declared ones.
#[test]
fn declarations_agree_with_the_engines() {
    let reqs = requests();
    assert!(reqs.len() >= 40, "{} requests", reqs.len());
    for (model, init, mode, what) in &reqs {
        let req = Request::new(model, init, *mode);
        for kind in EngineKind::ALL {
            let decl = kind.decl();
            let declared = decl.unsupported(&req).is_none();
            match resolve(kind, &req, "sim") {
                Ok(runner) => {
                    assert!(
                        runner.decl().unsupported(&req).is_none(),
                        "{kind:?} -> {runner:?}: {what}"
                    );
                    assert_eq!(
                        engine_lanes(runner, model, init, *mode),
                        Some(runner.decl().lanes),
                        "{runner:?} declared but does not run, or runs in other lanes: {what}"
                    );
                    match runner.decl().records {
                        Records::Single => {
                            let e = AnyEngine::build(
                                kind,
                                model,
                                init,
                                *mode,
                                1e8,
                                &mut stream_rng(1, 0),
                            );
                            let e = e.unwrap_or_else(|e| panic!("{kind:?}: {what}: {e}"));
                            // The checkpoint's first byte is the runner's tag (postcard
                            // writes a u8 as itself).
                            assert_eq!(
                                Checkpoint::save_state(&e)[0],
                                runner.decl().checkpoint_tag,
                                "{runner:?}: {what}"
                            );
                        }
                        Records::Multi => {
                            assert!(
                                AnyEngine::build(
                                    kind,
                                    model,
                                    init,
                                    *mode,
                                    1e8,
                                    &mut stream_rng(1, 0)
                                )
                                .is_err()
                            );
                        }
                    }
                }
                Err(e) => {
                    assert!(
                        !declared,
                        "{kind:?} declares {what} but resolve refused: {e}"
                    );
                    let msg = e.to_string();
                    assert!(
                        ["sim.engine", "sim.mode", "model.", "init.row_cov"]
                            .iter()
                            .any(|k| msg.contains(k)),
                        "{msg}"
                    );
                    assert!(
                        AnyEngine::build(kind, model, init, *mode, 1e8, &mut stream_rng(1, 0))
                            .is_err()
                    );
                }
            }
            // The constructors' own checks agree with the declaration on their axes.
            let gap = decl.unsupported(&req);
            match (kind, &gap) {
                (EngineKind::Full, Some("model.l1")) | (EngineKind::Multi, Some("model.loss")) => {
                    assert!(
                        !engine_runs(kind, model, init, *mode),
                        "{kind:?} runs what it does not declare: {what}"
                    );
                }
                (_, None) => {
                    assert!(
                        engine_runs(kind, model, init, *mode),
                        "{kind:?} refuses what it declares: {what}"
                    );
                }
                _ => {}
            }
        }
    }
}

/// The keys of the refusals users meet (the CLI's bad-input corpus checks the same).
#[test]
fn refusals_name_the_key_to_change() {
    let key = |p: usize, ortho: bool, l1: f64, loss: LossName, kind: EngineKind, mode: StepMode| {
        let mut c = ModelConfig::figure1(60, 2.0);
        c.p = p;
        c.l1 = l1;
        c.loss = loss.into();
        if ortho {
            c.constraint = Constraint::Orthonormal;
            c.lambda = LambdaValue::default();
        }
        let model = c.validate("model").unwrap();
        let mut ic = InitConfig::diagonal(2, 0.1, 0.1);
        if p > 1 {
            ic.q0_cols = Some(vec![vec![0.1, 0.0], vec![0.1, 0.0]]);
        }
        let init = ic.validate("init", &model).unwrap();
        let e = resolve(kind, &Request::new(&model, &init, mode), "sim").unwrap_err();
        match e {
            ParamError::Rule { key, .. } => key,
            other => panic!("{other}"),
        }
    };
    use EngineKind::{Full, Gram, Multi};
    use StepMode::{Fast, Literal};
    let q = LossName::Quadratic;
    assert_eq!(key(1, false, 0.5, q, Full, Fast), "sim.mode");
    assert_eq!(key(1, false, 0.5, q, Gram, Literal), "sim.engine");
    assert_eq!(key(1, false, 0.5, q, Multi, Literal), "sim.engine");
    assert_eq!(key(1, true, 0.0, q, Full, Fast), "sim.mode");
    assert_eq!(key(1, true, 0.0, q, Gram, Literal), "sim.engine");
    assert_eq!(key(2, false, 0.0, q, Full, Fast), "sim.mode");
    assert_eq!(
        key(2, false, 0.0, LossName::Logistic, Full, Literal),
        "model.loss"
    );
    assert_eq!(key(1, true, 0.5, q, Full, Literal), "model.l1");
}

#[test]
fn advancing_in_pieces_records_what_one_run_records() {
    let model = hdgan_model::ModelConfig::figure1(300, 2.0)
        .validate("model")
        .unwrap();
    let init = InitConfig::diagonal(2, 0.1, 0.1)
        .validate("init", &model)
        .unwrap();
    let schedule = Schedule::from_times(300, 2.0, 0.3).unwrap();
    for kind in [EngineKind::Full, EngineKind::Gram] {
        for mode in [StepMode::Fast, StepMode::Literal] {
            let build = |rng: &mut SimRng| {
                AnyEngine::build(
                    kind,
                    &model,
                    &init,
                    mode,
                    hdgan_micro_sim::DEFAULT_BLOWUP,
                    rng,
                )
                .unwrap()
            };
            let mut rng = stream_rng(3, 0);
            let mut e = build(&mut rng);
            let whole = run(&mut e, &mut rng, &schedule, RunControl::default()).unwrap();
            let mut rng = stream_rng(3, 0);
            let mut m = Member {
                engine: build(&mut rng),
                rng,
                trajectory: Trajectory::new(),
            };
            for until in [0, 1, 77, 90, 300, 301, 599, 10_000] {
                advance(&mut m, &schedule, until, RunControl::default()).unwrap();
                // Save and restore through bytes on the way.
                let bytes = Checkpoint::save_state(&m.engine);
                let mut rng2 = stream_rng(99, 9);
                let mut fresh = build(&mut rng2);
                Checkpoint::restore_state(&mut fresh, &bytes).unwrap();
                m.engine = fresh;
            }
            assert_eq!(m.trajectory, whole, "{kind:?} {mode:?}");
        }
    }
}

/// ARCHITECTURE.md's engine table is [`EngineKind::capability_table`]: every engine and
/// what it declares. `HDGAN_BLESS=1` rewrites the file's copy instead of failing.
#[test]
fn architecture_lists_every_engine() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ARCHITECTURE.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let (begin, end) = (
        "<!-- begin generated: engine-table -->\n",
        "<!-- end generated: engine-table -->",
    );
    let start = doc
        .find(begin)
        .expect("ARCHITECTURE.md marks the engine table")
        + begin.len();
    let stop = start
        + doc[start..]
            .find(end)
            .expect("the engine table's end marker");
    let table = EngineKind::capability_table();
    if doc[start..stop] == table {
        return;
    }
    if std::env::var("HDGAN_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, format!("{}{table}{}", &doc[..start], &doc[stop..])).unwrap();
        return;
    }
    panic!(
        "ARCHITECTURE.md's engine table is not what the registry declares.\n\
         --- in ARCHITECTURE.md:\n{}--- from EngineKind::capability_table():\n{table}---\n\
         Run `HDGAN_BLESS=1 cargo test -p hdgan-micro-sim --test engines` to rewrite it, \
         then check the notes under it.",
        &doc[start..stop]
    );
}
