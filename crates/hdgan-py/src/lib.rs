//! The native part of the `hdgan` Python package (`hdgan._hdgan`): the experiments of
//! `hdgan-experiments` as functions that take a config and return NumPy arrays, JSON texts
//! and plain values. The Python package (`python/hdgan`) wraps them in the documented API
//! (`hdgan.run`, `hdgan.ode`, ...), with column names, pandas, plots and tqdm progress.
//!
//! Every long call runs on a worker thread while the calling thread waits with the GIL
//! released, waking every 50 ms to pass progress to Python and to check for signals: a
//! KeyboardInterrupt cancels the work (it stops at its next record) and is raised once the
//! worker has stopped.
//!
//! The exception class comes from the error's kind ([`ErrorKind`]), the message is the one
//! the command line prints: bad input raises `ConfigError` (a `ValueError`), a request too
//! big for the machine `ResourceError` (a `MemoryError`), a cancelled one
//! `KeyboardInterrupt`, any other failure `RuntimeError`. A panic in the library is caught
//! (on the worker for long calls, around the whole call for every call) and raised as a
//! `RuntimeError`, never unwound into Python as pyo3's `PanicException`, a `BaseException`
//! that `except Exception` would miss.

use hdgan_core::{MacroState, PackedState, Trajectory};
use hdgan_experiments::run::{
    ConfigSource, RunSource, Simulation, prepare, run_phases, simulate, simulate_multi,
};
use hdgan_experiments::{Control, Error, ErrorKind, Event, Key, Result};
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray2};
use pyo3::create_exception;
use pyo3::exceptions::{PyKeyboardInterrupt, PyMemoryError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

create_exception!(
    _hdgan,
    ConfigError,
    PyValueError,
    "Bad input: a config that does not parse or breaks a rule, a missing file, a bad \
     argument. The message names the config key (or argument) and the rule, as the command \
     line's does."
);

create_exception!(
    _hdgan,
    ResourceError,
    PyMemoryError,
    "A request too big for this machine, refused before any work: its memory estimate \
     exceeds the memory available (or the limit set). The message names the keys that drive \
     the estimate."
);

/// The Python exception of an error of kind `kind` with `message`.
fn exception(kind: ErrorKind, message: String) -> PyErr {
    match kind {
        ErrorKind::Input => ConfigError::new_err(message),
        ErrorKind::Resource => ResourceError::new_err(message),
        ErrorKind::Cancelled => PyKeyboardInterrupt::new_err(message),
        ErrorKind::Failed => PyRuntimeError::new_err(message),
    }
}

/// An error of the library as the Python exception its kind maps to.
fn to_py(e: Error) -> PyErr {
    exception(e.kind(), one_line(&e))
}

/// A message on one line (control characters replaced), as the command line prints it.
fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A caught panic as a `RuntimeError` naming it a bug.
fn panic_err(panic: Box<dyn std::any::Any + Send>) -> PyErr {
    let msg = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "unknown panic".into());
    PyRuntimeError::new_err(format!(
        "hdgan failed internally (a bug, please report it): {msg}"
    ))
}

/// For the tests of the panic paths only: panics when the environment variable
/// `HDGAN_TEST_PANIC` equals `place` (`call`: at the start of every call from Python;
/// `worker`: on the worker thread of every long call).
fn test_panic(place: &str) {
    if std::env::var_os("HDGAN_TEST_PANIC").is_some_and(|v| v == place) {
        panic!("HDGAN_TEST_PANIC={place}");
    }
}

/// Runs the body of a call from Python, a panic raised as a `RuntimeError` ([`panic_err`])
/// instead of pyo3's `PanicException`.
fn guarded<T>(body: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        test_panic("call");
        body()
    }))
    .unwrap_or_else(|panic| Err(panic_err(panic)))
}

/// A config as the Python side passes it: `kind` is `"path"`, `"toml"` or `"json"` (a dict
/// serialised by Python), `value` the path or the text.
fn config_text(kind: &str, value: &str) -> Result<(String, String, String)> {
    match kind {
        "path" => {
            let p = std::path::Path::new(value);
            let text = std::fs::read_to_string(p).map_err(|error| Error::Read {
                what: "config file",
                path: p.to_path_buf(),
                error,
            })?;
            let name = p
                .file_stem()
                .map_or_else(|| "config".to_owned(), |s| s.to_string_lossy().into_owned());
            Ok((name, value.to_owned(), text))
        }
        "toml" => Ok(("config".into(), "<TOML string>".into(), value.to_owned())),
        "json" => {
            let bad = |e: &dyn std::fmt::Display| {
                Error::input(Key::arg("config"), format!("(a dict) is not a config: {e}"))
            };
            let v: serde_json::Value = serde_json::from_str(value).map_err(|e| bad(&e))?;
            let t = toml::Value::try_from(v).map_err(|e| bad(&e))?;
            let text = toml::to_string(&t).map_err(|e| bad(&e))?;
            Ok(("config".into(), "<dict>".into(), text))
        }
        "default" => Ok((
            hdgan_experiments::config::DEFAULT_NAME.into(),
            "<embedded default>".into(),
            hdgan_experiments::config::DEFAULT_CONFIG.into(),
        )),
        other => Err(Error::Internal(format!("unknown config kind {other:?}"))),
    }
}

/// Applies the keyword overrides to a config's TOML text (so that they are validated, and
/// their errors worded, exactly as keys of the file would be).
fn with_overrides(
    text: &str,
    origin: &str,
    seed: Option<u64>,
    engine: Option<&str>,
    members: Option<usize>,
) -> Result<String> {
    if seed.is_none() && engine.is_none() && members.is_none() {
        return Ok(text.to_owned());
    }
    let mut table: toml::Table = hdgan_experiments::config::parse_toml(text, origin)?;
    if let Some(s) = seed {
        let s = i64::try_from(s)
            .map_err(|_| Error::arg("seed", format!("must be below 2^63, got {s}")))?;
        table.insert("seed".into(), toml::Value::Integer(s));
    }
    let sim = table
        .entry("sim")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let Some(sim) = sim.as_table_mut() else {
        return Err(Error::Parse {
            origin: origin.to_owned(),
            line: None,
            key: Some("sim".to_owned()),
            message: "config key `sim` must be a table".to_owned(),
        });
    };
    if let Some(e) = engine {
        sim.insert("engine".into(), toml::Value::String(e.to_owned()));
    }
    if let Some(m) = members {
        let m = i64::try_from(m)
            .map_err(|_| Error::arg("members", format!("must be below 2^63, got {m}")))?;
        sim.insert("members".into(), toml::Value::Integer(m));
    }
    toml::to_string(&table).map_err(|e| Error::Parse {
        origin: origin.to_owned(),
        line: None,
        key: None,
        message: e.to_string(),
    })
}

/// The run source of a config with its overrides.
fn source(
    kind: &str,
    value: &str,
    seed: Option<u64>,
    engine: Option<&str>,
    members: Option<usize>,
    threads: Option<usize>,
) -> Result<RunSource> {
    let (name, origin, text) = config_text(kind, value)?;
    let text = with_overrides(&text, &origin, seed, engine, members)?;
    Ok(RunSource {
        config: ConfigSource::Text { name, origin, text },
        threads,
        ..RunSource::default()
    })
}

/// What the worker reports, read by the waiting thread.
#[derive(Default)]
struct Reported {
    stage: Option<(String, u64, String)>,
    done: u64,
    changed: bool,
}

/// Runs `work` on a worker thread while this thread waits with the GIL released, passing
/// progress to `progress(what, done, total, unit)` and checking for signals every 50 ms. A
/// panic on the worker is raised as a `RuntimeError`.
fn detached<T: Send>(
    py: Python<'_>,
    progress: Option<&Bound<'_, PyAny>>,
    work: impl FnOnce(Control<'_>) -> Result<T> + Send,
) -> PyResult<T> {
    let cancel = AtomicBool::new(false);
    let reported = Mutex::new(Reported::default());
    let on_event = |e: Event<'_>| {
        let mut r = reported.lock().unwrap_or_else(|p| p.into_inner());
        match e {
            Event::Begin { what, total, unit } => {
                r.stage = Some((what.to_owned(), total, unit.to_owned()));
                r.done = 0;
            }
            Event::Advance(k) => r.done += k,
            Event::End => {
                if let Some((_, total, _)) = &r.stage {
                    r.done = *total;
                }
            }
            Event::Note(_) => {}
        }
        r.changed = true;
    };
    let done = (Mutex::new(false), std::sync::Condvar::new());
    std::thread::scope(|scope| {
        let handle = scope.spawn(|| {
            let ctl = Control {
                progress: Some(&on_event),
                cancel: Some(&cancel),
            };
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                test_panic("worker");
                work(ctl)
            }));
            // Wakes the waiting thread at once.
            *done.0.lock().unwrap_or_else(|p| p.into_inner()) = true;
            done.1.notify_all();
            out
        });
        loop {
            // Up to 50 ms without the GIL, woken as soon as the worker is done.
            let finished = py.detach(|| {
                let guard = done.0.lock().unwrap_or_else(|p| p.into_inner());
                let (guard, _) = done
                    .1
                    .wait_timeout_while(guard, std::time::Duration::from_millis(50), |d| !*d)
                    .unwrap_or_else(|p| p.into_inner());
                *guard
            });
            if let Some(cb) = progress {
                let snapshot = {
                    let mut r = reported.lock().unwrap_or_else(|p| p.into_inner());
                    let s = r.changed.then(|| (r.stage.clone(), r.done));
                    r.changed = false;
                    s
                };
                if let Some((Some((what, total, unit)), done)) = snapshot
                    && let Err(e) = cb.call1((what, done, total, unit))
                {
                    cancel.store(true, Ordering::Relaxed);
                    let _ = py.detach(|| handle.join());
                    return Err(e);
                }
            }
            if finished {
                break;
            }
            if let Err(e) = py.check_signals() {
                cancel.store(true, Ordering::Relaxed);
                let _ = py.detach(|| handle.join());
                return Err(e);
            }
        }
        match handle.join() {
            Ok(Ok(Ok(v))) => Ok(v),
            Ok(Ok(Err(e))) => Err(to_py(e)),
            Ok(Err(panic)) | Err(panic) => Err(panic_err(panic)),
        }
    })
}

/// Rows `[member, t, state...]` of an ensemble (the layout of `sim.npy`).
fn ensemble_rows<S: PackedState>(sim: &[Trajectory<S>]) -> Vec<Vec<f64>> {
    let mut rows = Vec::new();
    for (m, traj) in sim.iter().enumerate() {
        for (t, s) in traj.times.iter().zip(&traj.states) {
            let mut row = vec![m as f64, *t];
            row.extend(s.pack());
            rows.push(row);
        }
    }
    rows
}

/// Rows `[t, state...]` of one path (the layout of `ode.npy`).
fn path_rows<S: PackedState>(path: &Trajectory<S>) -> Vec<Vec<f64>> {
    path.times
        .iter()
        .zip(&path.states)
        .map(|(t, s)| std::iter::once(*t).chain(s.pack()).collect())
        .collect()
}

/// A table as a 2-D float64 array (0 x 0 when empty).
fn array<'py>(py: Python<'py>, rows: &[Vec<f64>]) -> Bound<'py, PyArray2<f64>> {
    let cols = rows.first().map_or(0, Vec::len);
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    Array2::from_shape_vec((rows.len(), cols), flat)
        .expect("rows of equal length")
        .into_pyarray(py)
}

/// `hdgan.run`'s native part: the simulation ensemble and the ODE of a config.
#[pyfunction]
#[pyo3(signature = (kind, value, seed=None, engine=None, members=None, threads=None, progress=None))]
// One Rust parameter per Python argument is how pyo3 declares a signature: a struct here
// would change `_hdgan.run`'s Python signature.
#[allow(clippy::too_many_arguments)]
fn run<'py>(
    py: Python<'py>,
    kind: &str,
    value: &str,
    seed: Option<u64>,
    engine: Option<&str>,
    members: Option<usize>,
    threads: Option<usize>,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    guarded(|| {
        let src = source(kind, value, seed, engine, members, threads).map_err(to_py)?;
        let valid = prepare(&src).map_err(to_py)?;
        warn_deprecations(py, valid.model())?;
        let sim = detached(py, progress, |ctl| {
            hdgan_experiments::with_threads(threads, || -> Result<Simulation> {
                if valid.model().p() > 1 {
                    Ok(Simulation::Multi(simulate_multi(&valid, threads, ctl)?))
                } else {
                    let run = simulate(&valid, threads, ctl)?;
                    let phases = run_phases(&valid, &run);
                    Ok(Simulation::Single { run, phases })
                }
            })?
        })?;
        let out = PyDict::new(py);
        let d = valid.model().d();
        let provenance = hdgan_report::provenance::Provenance::new(valid.name())
            .config(valid.config())
            .seed(valid.seed())
            .threads(threads)
            .json();
        match sim {
            Simulation::Single { run, phases } => {
                let names = MacroState::column_names(d);
                out.set_item("names", names)?;
                out.set_item("sim", array(py, &ensemble_rows(&run.sim)))?;
                if let Some(ode) = &run.ode {
                    out.set_item("ode", array(py, &path_rows(ode)))?;
                }
                if let Some(fl) = &run.band {
                    let sd: Vec<Vec<f64>> = fl
                        .mean
                        .times
                        .iter()
                        .zip(fl.sd(valid.model().n()))
                        .map(|(t, row)| std::iter::once(*t).chain(row).collect())
                        .collect();
                    out.set_item("ode_sd", array(py, &sd))?;
                }
                let phases = serde_json::json!({ "sim_member0": phases.0, "ode": phases.1 });
                out.set_item("phases", phases.to_string())?;
                out.set_item("sim_seconds", run.sim_seconds)?;
            }
            Simulation::Multi(run) => {
                let names = hdgan_core::MultiState::column_names(d, valid.model().p());
                out.set_item("names", names)?;
                out.set_item("sim", array(py, &ensemble_rows(&run.sim)))?;
                if let Some(ode) = &run.ode {
                    out.set_item("ode", array(py, &path_rows(ode)))?;
                }
                out.set_item("phases", "{}")?;
                out.set_item("sim_seconds", run.sim_seconds)?;
            }
        }
        out.set_item(
            "config",
            toml::to_string(valid.config()).map_err(|e| PyRuntimeError::new_err(e.to_string()))?,
        )?;
        out.set_item("provenance", provenance.to_string())?;
        Ok(out)
    })
}

/// `hdgan.ode`'s native part: the limiting ODE of a config from its initial overlaps, at
/// the given times (default: the config's record times).
#[pyfunction]
#[pyo3(signature = (kind, value, t=None))]
fn ode<'py>(
    py: Python<'py>,
    kind: &str,
    value: &str,
    t: Option<Vec<f64>>,
) -> PyResult<Bound<'py, PyDict>> {
    guarded(|| {
        let src = source(kind, value, None, None, None, None).map_err(to_py)?;
        let valid = prepare(&src).map_err(to_py)?;
        warn_deprecations(py, valid.model())?;
        if valid.model().p() > 1 || valid.model().needs_multi_engine() {
            return Err(ConfigError::new_err(
                "config key `model.p` / `model.constraint`: hdgan.ode solves the single-feature ODE with column normalisation; use hdgan.run for the multi-feature model",
            ));
        }
        let times = match t {
            Some(t) => {
                if t.is_empty()
                    || t.iter().any(|x| !x.is_finite())
                    || t.windows(2).any(|w| w[1] < w[0])
                {
                    return Err(ConfigError::new_err(
                        "argument `t`: the times must be finite, non-decreasing and not empty",
                    ));
                }
                t
            }
            None => valid.schedule().record_times(valid.model().n()),
        };
        let (kind, opts) = valid.ode().unwrap_or((
            hdgan_macro_ode::OdeKind::for_model(valid.model()),
            hdgan_macro_ode::OdeOptions::default(),
        ));
        let init = valid.init().macro_state();
        let path = detached(py, None, |_| {
            hdgan_macro_ode::solve(valid.model(), kind, &init, &times, &opts)
                .map_err(|e| Error::ode("limiting ODE", e))
        })?;
        let out = PyDict::new(py);
        out.set_item("names", MacroState::column_names(valid.model().d()))?;
        out.set_item("ode", array(py, &path_rows(&path)))?;
        out.set_item(
            "config",
            toml::to_string(valid.config()).map_err(|e| PyRuntimeError::new_err(e.to_string()))?,
        )?;
        Ok(out)
    })
}

/// A config's text (`origin` names it in errors) without overrides.
fn text_of(kind: &str, value: &str) -> PyResult<(String, String, String)> {
    config_text(kind, value).map_err(to_py)
}

/// A Python `DeprecationWarning` per deprecated key of the config `model` was validated
/// from ([`hdgan_model::Model::deprecations`]).
fn warn_deprecations(py: Python<'_>, model: &hdgan_model::Model) -> PyResult<()> {
    for d in model.deprecations() {
        let msg = std::ffi::CString::new(d).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        let category = py.get_type::<pyo3::exceptions::PyDeprecationWarning>();
        PyErr::warn(py, &category, &msg, 1)?;
    }
    Ok(())
}

fn json_err(e: serde_json::Error) -> PyErr {
    PyRuntimeError::new_err(e.to_string())
}

/// `hdgan.claim1`'s native part: Claim 1's prediction for a config's `[model]` as JSON
/// (`null` when it does not apply: a loss other than the quadratic one, or non-diagonal
/// latent moments).
#[pyfunction]
fn claim1(py: Python<'_>, kind: &str, value: &str) -> PyResult<String> {
    guarded(|| {
        let (_, origin, text) = text_of(kind, value)?;
        let model = hdgan_experiments::config::model_only(&text, &origin).map_err(to_py)?;
        warn_deprecations(py, &model)?;
        serde_json::to_string(&hdgan_stability::claim1(&model)).map_err(json_err)
    })
}

/// `hdgan.fixed_points`' native part: the reduced ODE's fixed points of a config's
/// `[model]` (lambda = inf) as JSON, as `hdgan fixed-points` lists them.
#[pyfunction]
fn fixed_points(py: Python<'_>, kind: &str, value: &str) -> PyResult<String> {
    guarded(|| {
        let (_, origin, text) = text_of(kind, value)?;
        let model =
            hdgan_experiments::phase::fixed_points_model_text(&origin, &text).map_err(to_py)?;
        warn_deprecations(py, &model)?;
        let names = MacroState::column_names(model.d());
        let points = hdgan_experiments::phase::fixed_points_for(&model)
            .iter()
            .map(|fp| {
                // The state as the overlaps by name, in the layout of `ode.csv`.
                let mut v = serde_json::to_value(fp)?;
                v["state"] = serde_json::Value::Object(
                    names
                        .iter()
                        .cloned()
                        .zip(fp.state.pack().into_iter().map(serde_json::Value::from))
                        .collect(),
                );
                Ok(v)
            })
            .collect::<Result<Vec<_>, serde_json::Error>>()
            .map_err(json_err)?;
        serde_json::to_string(&points).map_err(json_err)
    })
}

/// `hdgan.modes`' native part: the effective second moments' modes of a config's
/// `[model]` and their solvable intervals, as JSON.
#[pyfunction]
fn modes(py: Python<'_>, kind: &str, value: &str) -> PyResult<String> {
    guarded(|| {
        let (_, origin, text) = text_of(kind, value)?;
        let model = hdgan_experiments::modes::modes_model_text(&origin, &text).map_err(to_py)?;
        warn_deprecations(py, &model)?;
        serde_json::to_string(&hdgan_stability::effective_modes(&model)).map_err(json_err)
    })
}

/// `hdgan.phase_map`'s native part: a phase config's map (ODE and Claim 1 per grid point,
/// simulations where asked): axes, grids of phase codes (NaN: unknown) and the cells as
/// JSON.
#[pyfunction]
#[pyo3(signature = (kind, value, threads=None, progress=None))]
fn phase_map<'py>(
    py: Python<'py>,
    kind: &str,
    value: &str,
    threads: Option<usize>,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    guarded(|| {
        let (name, origin, text) = text_of(kind, value)?;
        hdgan_experiments::resources::check_threads(threads).map_err(to_py)?;
        let v =
            hdgan_experiments::phase::prepare_phase_text(&name, &origin, &text).map_err(to_py)?;
        warn_deprecations(py, &v.model)?;
        let r = detached(py, progress, |ctl| {
            hdgan_experiments::with_threads(threads, || {
                hdgan_experiments::phase::compute(&v, threads, ctl)
            })?
        })?;
        let (nx, ny) = (r.map.x.count.max(2), r.map.y.count.max(2));
        let grid = |f: &dyn Fn(usize) -> f64| -> Vec<Vec<f64>> {
            (0..ny)
                .map(|iy| (0..nx).map(|ix| f(iy * nx + ix)).collect())
                .collect()
        };
        use hdgan_report::tables::phase_code;
        let ode = grid(&|i| phase_code(r.map.cells[i].ode.as_ref().map(|s| &s.phase)));
        let claim = grid(&|i| phase_code(r.map.cells[i].claim1.as_ref()));
        let sim = grid(&|i| phase_code(r.sim.get(i).and_then(Option::as_ref)));
        let out = PyDict::new(py);
        out.set_item("x", r.map.x.values())?;
        out.set_item("y", r.map.y.values())?;
        out.set_item("x_param", r.map.x.param.label())?;
        out.set_item("y_param", r.map.y.param.label())?;
        out.set_item("ode", array(py, &ode))?;
        out.set_item("claim1", array(py, &claim))?;
        out.set_item("sim", array(py, &sim))?;
        out.set_item(
            "cells",
            serde_json::to_string(&r.map.cells).map_err(json_err)?,
        )?;
        out.set_item("agreement", r.agreement)?;
        out.set_item("sim_agreement", r.sim_agreement)?;
        out.set_item("seconds", r.seconds)?;
        Ok(out)
    })
}

/// `hdgan.measure`'s native part: Figure 2's snapshots of the weights' scaled rows against
/// the PDE's Gaussian solution: the moments table and each snapshot's `(v^, w^)` rows.
#[pyfunction]
#[pyo3(signature = (kind, value, progress=None))]
fn measure<'py>(
    py: Python<'py>,
    kind: &str,
    value: &str,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    guarded(|| {
        let (name, origin, text) = text_of(kind, value)?;
        let v = hdgan_experiments::measure::prepare_measure_text(&name, &origin, &text)
            .map_err(to_py)?;
        warn_deprecations(py, &v.model)?;
        let (snaps, seconds) = detached(py, progress, |ctl| {
            hdgan_experiments::measure::measure(&v, ctl)
        })?;
        let out = PyDict::new(py);
        out.set_item(
            "columns",
            hdgan_experiments::measure::MOMENT_COLUMNS.to_vec(),
        )?;
        out.set_item(
            "moments",
            array(py, &hdgan_experiments::measure::moments_table(&snaps)),
        )?;
        let times: Vec<f64> = snaps.iter().map(|s| s.t).collect();
        let rows: Vec<Bound<'py, PyArray2<f64>>> = snaps
            .iter()
            .map(|s| {
                let r: Vec<Vec<f64>> = s.rows.iter().map(|r| r.to_vec()).collect();
                array(py, &r)
            })
            .collect();
        out.set_item("times", times)?;
        out.set_item("rows", rows)?;
        out.set_item("seconds", seconds)?;
        Ok(out)
    })
}

/// `hdgan.train_data`'s native part: the linear GAN trained on a stream of real images
/// (as `hdgan train-data`), with every method's alignment curve and the ODE's.
#[pyfunction]
#[pyo3(signature = (dataset, path, d=2, seeds=5, seed=1, tau=0.2, alpha=None, eta_g=3.0, t_end=None, records=100, max_images=None, threads=None, progress=None))]
// One Rust parameter per Python keyword argument (see `run`); the request they fill is
// `TrainDataRequest`.
#[allow(clippy::too_many_arguments)]
fn train_data<'py>(
    py: Python<'py>,
    dataset: &str,
    path: &str,
    d: usize,
    seeds: usize,
    seed: u64,
    tau: f64,
    alpha: Option<f64>,
    eta_g: f64,
    t_end: Option<f64>,
    records: usize,
    max_images: Option<usize>,
    threads: Option<usize>,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    guarded(|| {
        use hdgan_data::Dataset;
        use hdgan_experiments::train_data::{TrainDataRequest, check_with_data, load, train};
        let ds = match dataset {
            "mnist" => Dataset::Mnist,
            "fashion-mnist" => Dataset::FashionMnist,
            "cifar10" => Dataset::Cifar10,
            other => {
                return Err(ConfigError::new_err(format!(
                    "argument `dataset` must be \"mnist\", \"fashion-mnist\" or \"cifar10\", got {other:?}"
                )));
            }
        };
        let mut req = TrainDataRequest::new(ds, std::path::PathBuf::from(path));
        req.d = d;
        req.seeds = seeds;
        req.seed = seed;
        req.tau = tau;
        req.alpha = alpha;
        req.eta_g = eta_g;
        req.t_end = t_end;
        req.records = records;
        req.max_images = max_images;
        req.threads = threads;
        req.check().map_err(to_py)?;
        let o = detached(py, progress, |ctl| {
            let data = load(&req)?;
            check_with_data(&req, &data.prep)?;
            let o = train(&req, &data, ctl)?;
            Ok(o)
        })?;
        let out = PyDict::new(py);
        let names: Vec<String> = o.methods.iter().map(|m| m.method.clone()).collect();
        let mut uniq: Vec<String> = Vec::new();
        for n in &names {
            if !uniq.contains(n) {
                uniq.push(n.clone());
            }
        }
        let mut rows = Vec::new();
        for m in &o.methods {
            let code = uniq.iter().position(|n| n == &m.method).unwrap_or(0) as f64;
            for (k, t) in m.curve.t.iter().enumerate() {
                let mut row = vec![code, m.seed as f64, *t];
                row.extend(m.curve.cosines[k].iter().copied());
                row.push(m.curve.mean_cos[k]);
                row.push(m.curve.grassmann[k]);
                row.push(m.recon.get(k).copied().unwrap_or(f64::NAN));
                rows.push(row);
            }
        }
        let mut ode_rows = Vec::new();
        let covs: Vec<&str> = o
            .runs
            .iter()
            .map(|r| hdgan_experiments::train_data::cov_name(r.covariance))
            .collect();
        for (ci, r) in o.runs.iter().enumerate() {
            for (s, c) in r.ode_alignment.iter().enumerate() {
                for (k, t) in c.t.iter().enumerate() {
                    let mut row = vec![ci as f64, s as f64, *t];
                    row.extend(c.cosines[k].iter().copied());
                    row.push(c.mean_cos[k]);
                    row.push(c.grassmann[k]);
                    ode_rows.push(row);
                }
            }
        }
        let finals = serde_json::json!(
            o.runs
                .iter()
                .map(|r| serde_json::json!({
                    "covariance": hdgan_experiments::train_data::cov_name(r.covariance),
                    "alpha": r.alpha,
                    "lam_tilde": r.lam_tilde,
                    "final_sim": r.final_sim,
                    "final_ode": r.final_ode,
                }))
                .collect::<Vec<_>>()
        );
        out.set_item("methods", uniq)?;
        out.set_item("covariances", covs)?;
        out.set_item("d", d)?;
        out.set_item("alignment", array(py, &rows))?;
        out.set_item("ode_alignment", array(py, &ode_rows))?;
        out.set_item("runs", finals.to_string())?;
        out.set_item("spectrum", o.prepared.effective())?;
        out.set_item("n", o.prepared.n)?;
        out.set_item("images", o.images)?;
        out.set_item("holdout", o.holdout)?;
        out.set_item("alpha", o.alpha)?;
        out.set_item("t_end", o.t_end)?;
        out.set_item("seconds", o.seconds)?;
        Ok(out)
    })
}

/// The version of the library and the git revision it was built from.
#[pyfunction]
fn build_info() -> PyResult<(String, String)> {
    guarded(|| {
        let (v, r) = hdgan_report::build_info();
        Ok((v.to_owned(), r.to_owned()))
    })
}

/// The native module `hdgan._hdgan`.
#[pymodule]
fn _hdgan(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("ConfigError", m.py().get_type::<ConfigError>())?;
    m.add("ResourceError", m.py().get_type::<ResourceError>())?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(ode, m)?)?;
    m.add_function(wrap_pyfunction!(build_info, m)?)?;
    m.add_function(wrap_pyfunction!(claim1, m)?)?;
    m.add_function(wrap_pyfunction!(fixed_points, m)?)?;
    m.add_function(wrap_pyfunction!(modes, m)?)?;
    m.add_function(wrap_pyfunction!(phase_map, m)?)?;
    m.add_function(wrap_pyfunction!(measure, m)?)?;
    m.add_function(wrap_pyfunction!(train_data, m)?)?;
    Ok(())
}
