//! Writers of every experiment's output folder: the CSV / NPY tables, the figures and the
//! provenance file (`run.json`, `modes.json`, `summary.json`), all into a [`StagedDir`]
//! that the caller commits (atomically) when everything is written.

use crate::figures::{
    alignment_panels, claim1_legend, cosine_figure, figure1, figure2_panels, method_panels,
    multi_figure, phase_figure, spectrum_figure,
};
use crate::output::{StagedDir, write_csv, write_csv_labeled, write_json, write_npy};
use crate::pictures::{Shape, columns_wrapped, tile_grid};
use crate::plot::{CellMap, Figure, PALETTE, Series, Style, render, render_cells, render_panels};
use crate::provenance::Provenance;
use crate::tables::{mode_rows, phase_code, traj_rows};
use crate::{Error, Result};
use hdgan_core::{MacroState, MultiState, PackedState, Trajectory};
use hdgan_data::Prepared;
use hdgan_experiments::config::ValidRun;
use hdgan_experiments::measure::{MOMENT_COLUMNS, Snapshot, ValidMeasure, moments_table};
use hdgan_experiments::modes::{ModesRun, ValidModes};
use hdgan_experiments::phase::{PhaseResult, ValidPhase};
use hdgan_experiments::run::{MultiRun, RunResult, Simulation, rounding_note};
use hdgan_experiments::train_data::{
    TrainDataOutcome, TrainDataRequest, cov_name, data_model, mean_sd, method_groups,
};
use hdgan_stability::{
    EffectiveModes, PhaseSummary, claim1_boundaries, classification_times, effective_modes,
};
use serde_json::json;

/// Writes `sim.csv`/`.npy` (one row per member and recorded time) and, when given,
/// `ode.csv`/`.npy` into `staged`, with `names` as the state's columns; returns the
/// simulation's header.
pub fn write_trajectories<S: PackedState>(
    staged: &StagedDir,
    names: &[String],
    sim: &[Trajectory<S>],
    ode: Option<&Trajectory<S>>,
) -> Result<Vec<String>> {
    let mut sim_header = vec!["member".to_owned(), "t".to_owned()];
    sim_header.extend(names.iter().cloned());
    let sim_rows: Vec<Vec<f64>> = sim
        .iter()
        .enumerate()
        .flat_map(|(m, t)| {
            t.rows().into_iter().map(move |r| {
                let mut row = vec![m as f64];
                row.extend(r);
                row
            })
        })
        .collect();
    write_csv(&staged.file("sim.csv"), &sim_header, &sim_rows)?;
    write_npy(&staged.file("sim.npy"), &sim_rows)?;
    if let Some(o) = ode {
        write_ode(staged, names, o)?;
    }
    Ok(sim_header)
}

/// Writes `ode.csv`/`.npy` (t, then `names`) into `staged`.
fn write_ode<S: PackedState>(
    staged: &StagedDir,
    names: &[String],
    ode: &Trajectory<S>,
) -> Result<()> {
    let mut header = vec!["t".to_owned()];
    header.extend(names.iter().cloned());
    let rows = ode.rows();
    write_csv(&staged.file("ode.csv"), &header, &rows)?;
    write_npy(&staged.file("ode.npy"), &rows)
}

/// Writes `ode_sd.csv`/`.npy`: `ode.csv`'s columns (t, then every overlap) holding the
/// linear-noise standard deviation `sqrt(Sigma_ii(t) / n)` at size `n` (THEORY §10), so that
/// `ode +- 2 ode_sd` is the band. Constrained overlaps (z, S_jj with lambda = inf) have 0.
pub fn write_band(
    staged: &StagedDir,
    names: &[String],
    fl: &hdgan_stability::Fluctuations,
    n: usize,
) -> Result<()> {
    let mut header = vec!["t".to_owned()];
    header.extend(names.iter().cloned());
    let rows: Vec<Vec<f64>> = fl
        .mean
        .times
        .iter()
        .zip(fl.sd(n))
        .map(|(t, sd)| std::iter::once(*t).chain(sd).collect())
        .collect();
    write_csv(&staged.file("ode_sd.csv"), &header, &rows)?;
    write_npy(&staged.file("ode_sd.npy"), &rows)
}

/// Writes `config.toml` into `staged` and returns the run's provenance for `run.json`
/// (version, git revision, name, seed, threads, config, schedule, columns, files).
fn run_meta(
    valid: &ValidRun,
    threads: Option<usize>,
    staged: &StagedDir,
    sim_header: &[String],
    names: &[String],
    sim_seconds: f64,
) -> Result<serde_json::Value> {
    write_config(valid.config(), staged)?;
    let mut meta = Provenance::new(valid.name())
        .config(valid.config())
        .seed(valid.seed())
        .threads(threads)
        .json();
    meta["steps"] = json!(valid.schedule().steps);
    meta["record_every_steps"] = json!(valid.schedule().record_every);
    meta["t_end_effective"] = json!(valid.schedule().steps as f64 / valid.model().n() as f64);
    meta["record_dt_effective"] =
        json!(valid.schedule().record_every as f64 / valid.model().n() as f64);
    meta["schedule_rounding"] = json!(rounding_note(valid));
    meta["columns"] = json!({
        "sim": sim_header,
        "ode": std::iter::once("t".to_owned()).chain(names.iter().cloned()).collect::<Vec<_>>(),
    });
    meta["files"] = json!({
        "sim.csv": "simulation: one row per (member, recorded time)",
        "sim.npy": "same as sim.csv, float64 array (rows x columns)",
        "ode_sd.csv": "when the band is on (ode.band): ode.csv's columns holding the linear-noise standard deviation sqrt(Sigma_ii(t) / n); ode +- 2 ode_sd is the band (THEORY section 10)",
        "ode_sd.npy": "same as ode_sd.csv, float64 array",
        "ode.csv": "limiting ODE at the recorded times, from member 0's initial state",
        "ode.npy": "same as ode.csv, float64 array",
        "figure.svg": "cosines over time (also figure.png)",
        "config.toml": "the configuration that made this run",
    });
    meta["sim_seconds"] = json!(sim_seconds);
    Ok(meta)
}

fn title_of(valid: &ValidRun) -> String {
    valid
        .title()
        .map_or_else(|| valid.name().to_owned(), str::to_owned)
}

/// Writes a single-feature run's trajectories (sim.csv/.npy, ode.csv/.npy), its plot
/// (figure.svg/.png) and config.toml into `staged`; returns the metadata for `run.json`,
/// which the caller may extend before writing it.
pub fn write_run_files(
    valid: &ValidRun,
    run: &RunResult,
    phases: &(Option<PhaseSummary>, Option<PhaseSummary>),
    threads: Option<usize>,
    staged: &StagedDir,
) -> Result<serde_json::Value> {
    let names = MacroState::column_names(valid.model().d());
    let sim_header = write_trajectories(staged, &names, &run.sim, run.ode.as_ref())?;
    let mut fig = figure1(
        &format!("{} (n = {})", title_of(valid), valid.model().n()),
        &run.sim,
        run.ode.as_ref(),
    );
    if let Some(fl) = &run.band {
        write_band(staged, &names, fl, valid.model().n())?;
        crate::figures::add_band(&mut fig, fl, valid.model().n());
    }
    render(&fig, &staged.file("figure.svg"), &staged.file("figure.png"))?;
    let mut meta = run_meta(valid, threads, staged, &sim_header, &names, run.sim_seconds)?;
    meta["phase"] = json!({ "sim_member0": phases.0, "ode": phases.1 });
    Ok(meta)
}

/// [`write_run_files`] and `run.json`: every file of `hdgan run`.
pub fn write_run(
    valid: &ValidRun,
    run: &RunResult,
    phases: &(Option<PhaseSummary>, Option<PhaseSummary>),
    threads: Option<usize>,
    staged: &StagedDir,
) -> Result<serde_json::Value> {
    let meta = write_run_files(valid, run, phases, threads, staged)?;
    write_json(&staged.file("run.json"), &meta)?;
    Ok(meta)
}

/// Every file of a p-feature run: sim.csv/.npy and ode.csv/.npy (columns of
/// [`MultiState::column_names`]), figure.svg/.png ([`multi_figure`]), config.toml and
/// run.json.
pub fn write_multi_run(
    valid: &ValidRun,
    run: &MultiRun,
    threads: Option<usize>,
    staged: &StagedDir,
) -> Result<serde_json::Value> {
    let names = MultiState::column_names(valid.model().d(), valid.model().p());
    let header = write_trajectories(staged, &names, &run.sim, run.ode.as_ref())?;
    render(
        &multi_figure(
            &format!(
                "{} (n = {}, p = {})",
                title_of(valid),
                valid.model().n(),
                valid.model().p()
            ),
            &run.sim,
            run.ode.as_ref(),
        ),
        &staged.file("figure.svg"),
        &staged.file("figure.png"),
    )?;
    let mut meta = run_meta(valid, threads, staged, &header, &names, run.sim_seconds)?;
    meta["engine"] = json!("multi-feature literal step (MultiSgda)");
    meta["ode_equation"] = json!("multi-feature ODE (hdgan_macro_ode::solve_multi)");
    write_json(&staged.file("run.json"), &meta)?;
    Ok(meta)
}

/// Every file of a run of any configuration ([`write_run`] or [`write_multi_run`]).
pub fn write_simulation(
    valid: &ValidRun,
    sim: &Simulation,
    threads: Option<usize>,
    staged: &StagedDir,
) -> Result<serde_json::Value> {
    match sim {
        Simulation::Single { run, phases } => write_run(valid, run, phases, threads, staged),
        Simulation::Multi(run) => write_multi_run(valid, run, threads, staged),
    }
}

/// Every file of `hdgan phase`: phase.csv/.npy (one row per grid point), the grids
/// ode_phase_grid.npy and claim1_phase_grid.npy, phase.svg/.png (ODE phases with Claim
/// 1's boundaries), agreement.svg/.png and run.json.
pub fn write_phase(
    v: &ValidPhase,
    r: &PhaseResult,
    threads: Option<usize>,
    staged: &StagedDir,
) -> Result<()> {
    let map = &r.map;
    let d = v.model.d();
    let mut header: Vec<String> = ["x", "y", "claim1_code", "ode_code", "agree", "ode_q_rms"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    header.extend((1..=d).map(|l| format!("ode_cos{l}")));
    header.push("sim_code".into());
    let rows: Vec<Vec<f64>> = map
        .cells
        .iter()
        .zip(&r.sim)
        .map(|(c, s)| {
            let mut row = vec![
                c.x,
                c.y,
                phase_code(c.claim1.as_ref()),
                phase_code(c.ode.as_ref().map(|o| &o.phase)),
                c.agrees().map_or(f64::NAN, |a| if a { 1.0 } else { 0.0 }),
                c.ode.as_ref().map_or(f64::NAN, |o| o.q_rms),
            ];
            row.extend((0..d).map(|l| c.ode.as_ref().map_or(f64::NAN, |o| o.feature_cosine[l])));
            row.push(phase_code(s.as_ref()));
            row
        })
        .collect();
    write_csv(&staged.file("phase.csv"), &header, &rows)?;
    write_npy(&staged.file("phase.npy"), &rows)?;
    let (nx, ny) = (v.spec.x.count, v.spec.y.count);
    let grid = |f: &dyn Fn(usize) -> f64| -> Vec<Vec<f64>> {
        (0..ny)
            .map(|iy| (0..nx).map(|ix| f(iy * nx + ix)).collect())
            .collect()
    };
    write_npy(&staged.file("ode_phase_grid.npy"), &grid(&|k| rows[k][3]))?;
    write_npy(
        &staged.file("claim1_phase_grid.npy"),
        &grid(&|k| rows[k][2]),
    )?;
    let title = v.config.title.clone().unwrap_or_else(|| v.name.clone());
    render_cells(
        &phase_figure(&format!("{title}: ODE phases"), &v.model, map, Vec::new()),
        &staged.file("phase.svg"),
        &staged.file("phase.png"),
    )?;
    let (hx, hy) = (map.x.step() / 2.0, map.y.step() / 2.0);
    let agree_cells = map
        .cells
        .iter()
        .map(|c| {
            let col = match c.agrees() {
                Some(true) => (200, 230, 200),
                Some(false) => (213, 94, 0),
                None => (160, 160, 160),
            };
            ((c.x - hx, c.y - hy, c.x + hx, c.y + hy), col)
        })
        .collect();
    render_cells(
        &CellMap {
            title: if r.agreement.0 > 0 {
                format!(
                    "{title}: ODE vs Claim 1 ({} of {} agree)",
                    r.agreement.1, r.agreement.0
                )
            } else {
                format!("{title}: ODE vs Claim 1 (not compared)")
            },
            x_label: map.x.param.label().into(),
            y_label: map.y.param.label().into(),
            x_range: (map.x.min - hx, map.x.max + hx),
            y_range: (map.y.min - hy, map.y.max + hy),
            cells: agree_cells,
            segments: claim1_boundaries(&v.model, &map.x, &map.y, 4),
            segments_label: claim1_legend(&v.model),
            legend: vec![
                ("agree".into(), (200, 230, 200)),
                ("disagree".into(), (213, 94, 0)),
                ("no Claim 1 / ODE failed".into(), (160, 160, 160)),
            ],
            markers: Vec::new(),
        },
        &staged.file("agreement.svg"),
        &staged.file("agreement.png"),
    )?;
    let mut meta = Provenance::new(&v.name)
        .config(&v.config)
        .threads(threads)
        .json();
    meta["seconds_ode_map"] = json!(r.seconds);
    meta["claim1_vs_ode"] = json!({"compared": r.agreement.0, "agree": r.agreement.1});
    meta["sim_vs_ode"] = json!(
        r.sim_agreement
            .map(|(a, b)| json!({"compared": a, "agree": b}))
    );
    meta["columns"] = json!(header);
    meta["phase_codes"] = json!(
        "0 success, 1 oscillation, 2 failure, 3 + sum of 2^l over learned features l (0-based) = mode collapse; NaN = no verdict: claim1_code where Claim 1 does not apply (finite lambda, a loss other than the quadratic one, non-diagonal second moments), ode_code where the ODE diverged or could not be classified (also agree and ode_* are then NaN), sim_code at points without a simulation or whose simulation diverged"
    );
    meta["classification_times"] = json!(classification_times(
        v.spec.t_end,
        v.spec.samples,
        &v.spec.rule
    ));
    meta["rule"] = json!(v.spec.rule);
    write_json(&staged.file("run.json"), &meta)?;
    Ok(())
}

/// Every file of `hdgan measure`: `snapshot_t<T>.npy` (the rows at each time),
/// moments.csv, figure2.svg/.png and run.json.
pub fn write_measure(
    v: &ValidMeasure,
    snaps: &[Snapshot],
    sim_seconds: f64,
    staged: &StagedDir,
) -> Result<()> {
    let header: Vec<String> = MOMENT_COLUMNS.iter().map(|s| s.to_string()).collect();
    for s in snaps {
        let samples: Vec<Vec<f64>> = s.rows.iter().map(|r| r.to_vec()).collect();
        write_npy(&staged.file(&format!("snapshot_t{}.npy", s.t)), &samples)?;
    }
    write_csv(&staged.file("moments.csv"), &header, &moments_table(snaps))?;
    let title = v.config.title.clone().unwrap_or_else(|| v.name.clone());
    let mut panels = figure2_panels(snaps);
    if let Some(p) = panels.first_mut() {
        p.title = format!("{title}: {}", p.title);
    }
    render_panels(
        &panels,
        2,
        &staged.file("figure2.svg"),
        &staged.file("figure2.png"),
    )?;
    let mut meta = Provenance::new(&v.name)
        .config(&v.config)
        .seed(v.seed)
        .json();
    meta["sim_seconds"] = json!(sim_seconds);
    meta["files"] = json!({
        "snapshot_t<T>.npy": "rows (v^, w^) = sqrt(n) (V_i1, w_i) at time T, n x 2 float64",
        "moments.csv": "per snapshot: simulation mean/covariance, the PDE's Gaussian mean/covariance, sliced W1 and marginal KS distances",
        "figure2.svg": "point clouds with the 1-, 2-, 3-sigma ellipses of the PDE's Gaussian (also figure2.png)",
    });
    write_json(&staged.file("run.json"), &meta)?;
    Ok(())
}

/// Every file of `hdgan modes`: modes.csv, spectrum.svg/.png and modes.json; with a run,
/// also the run's own files ([`write_run_files`]), sim_modes.csv/.npy, ode_modes.csv/.npy
/// and modes_figure.svg/.png.
pub fn write_modes(
    v: &ValidModes,
    modes: &EffectiveModes,
    run: Option<&ModesRun>,
    threads: Option<usize>,
    staged: &StagedDir,
) -> Result<()> {
    let model = &v.model;
    let (header, rows) = mode_rows(modes);
    write_csv(&staged.file("modes.csv"), &header, &rows)?;
    let title = v
        .run
        .as_ref()
        .and_then(|r| r.title().map(str::to_owned))
        .unwrap_or_else(|| v.name.clone());
    render(
        &spectrum_figure(&title, modes),
        &staged.file("spectrum.svg"),
        &staged.file("spectrum.png"),
    )?;
    let mut meta = Provenance::new(&v.name).json();
    meta["second_moment"] = json!(model.latent().second_moment().matrix().to_rows());
    meta["second_moment_tilde"] = json!(model.latent_tilde().second_moment().matrix().to_rows());
    meta["modes"] = json!(modes);
    meta["columns"] = json!({ "modes.csv": header });
    meta["status_codes"] = json!({ "0": "not learnable (lam <= tau eta^2)", "1": "in the solvable interval", "2": "too strong (oscillation)" });
    if let (Some(valid), Some(mr)) = (&v.run, run) {
        let run_meta = write_run_files(valid, &mr.run, &mr.phases, threads, staged)?;
        let names = MacroState::column_names(model.d());
        let mut sim_header = vec!["member".to_owned(), "t".to_owned()];
        sim_header.extend(names.iter().cloned());
        let sim_rows: Vec<Vec<f64>> = mr
            .sim_modes
            .iter()
            .enumerate()
            .flat_map(|(k, t)| traj_rows(t, Some(k)))
            .collect();
        write_csv(&staged.file("sim_modes.csv"), &sim_header, &sim_rows)?;
        write_npy(&staged.file("sim_modes.npy"), &sim_rows)?;
        if let Some(o) = &mr.ode_modes {
            let header: Vec<String> = std::iter::once("t".to_owned()).chain(names).collect();
            let rows = traj_rows(o, None);
            write_csv(&staged.file("ode_modes.csv"), &header, &rows)?;
            write_npy(&staged.file("ode_modes.npy"), &rows)?;
        }
        render(
            &cosine_figure(
                &format!("{title}: by effective mode (n = {})", model.n()),
                &mr.sim_modes,
                mr.ode_modes.as_ref(),
                &|i| (format!("mode {}", i + 1), format!("|q'{}|", i + 1)),
            ),
            &staged.file("modes_figure.svg"),
            &staged.file("modes_figure.png"),
        )?;
        meta["run"] = run_meta;
        meta["phase_by_mode"] =
            json!({ "sim_member0": mr.phases_by_mode.0, "ode": mr.phases_by_mode.1 });
        meta["files"] = json!({
            "sim_modes.csv": "simulation in the mode bases: P' = E P G^T, q' = E q, r' = G r, S' = G S G^T (rows of E, G: the modes in modes.csv)",
            "ode_modes.csv": "the ODE in the mode bases",
            "modes_figure.svg": "per-mode cosines P'_ll / sqrt(S'_ll) and |q'_l| over time (also .png)",
        });
    }
    write_json(&staged.file("modes.json"), &meta)?;
    Ok(())
}

/// `first, seed, t, cos1..cosd, mean_cos, grassmann`: the columns of an alignment table.
fn alignment_header(first: &str, d: usize) -> Vec<String> {
    let mut h = vec![first.to_owned(), "seed".to_owned(), "t".to_owned()];
    h.extend((1..=d).map(|i| format!("cos{i}")));
    h.extend(["mean_cos", "grassmann"].map(String::from));
    h
}

/// The method comparison of `hdgan train-data`: methods.csv (one row per method, seed and
/// record), methods.svg/.png, and the learned bases as images: bases-pca.png (the
/// reference), bases-<method>.png (seed 0 at the end) and bases-<method>-over-time.png (seed
/// 0, one row per picture time, the first eight columns).
fn write_methods(
    req: &TrainDataRequest,
    prep: &Prepared,
    outcome: &TrainDataOutcome,
    staged: &StagedDir,
) -> Result<()> {
    let d = req.d;
    let mut header = alignment_header("method", d);
    header.push("recon_error".to_owned());
    let mut rows = Vec::new();
    for r in &outcome.methods {
        let c = &r.curve;
        for k in 0..c.t.len() {
            let mut row = vec![r.seed as f64, c.t[k]];
            row.extend(&c.cosines[k]);
            row.extend([c.mean_cos[k], c.grassmann[k], r.recon[k]]);
            rows.push((r.method.clone(), row));
        }
    }
    write_csv_labeled(&staged.file("methods.csv"), &header, &rows)?;
    let title = format!("{} (d = {d}, p = {})", req.dataset.name(), req.p);
    render_panels(
        &method_panels(&title, &outcome.methods),
        2,
        &staged.file("methods.svg"),
        &staged.file("methods.png"),
    )?;
    let (h, w, c) = outcome.shape;
    let shape = Shape { h, w, c };
    tile_grid(
        &staged.file("bases-pca.png"),
        &columns_wrapped(&prep.reference, prep.n, 8),
        shape,
    )?;
    for (method, runs) in method_groups(&outcome.methods) {
        let first = runs[0];
        if let Some((_, last)) = first.snapshots.last() {
            tile_grid(
                &staged.file(&format!("bases-{method}.png")),
                &columns_wrapped(last, prep.n, 8),
                shape,
            )?;
        }
        // Over time: one row per picture time, the first (up to) eight columns.
        let montage: Vec<Vec<&[f64]>> = first
            .snapshots
            .iter()
            .map(|(_, b)| b.chunks_exact(prep.n).take(8).collect())
            .collect();
        tile_grid(
            &staged.file(&format!("bases-{method}-over-time.png")),
            &montage,
            shape,
        )?;
    }
    Ok(())
}

/// Every file of `hdgan train-data`: alignment.csv, ode_alignment.csv, spectrum.csv,
/// summary.json, alignment.svg/.png (mean cosine of the principal angles and Grassmann
/// distance over time, runs and ODE) and spectrum.svg/.png.
pub fn write_train_data(
    req: &TrainDataRequest,
    prep: &Prepared,
    outcome: &TrainDataOutcome,
    staged: &StagedDir,
) -> Result<()> {
    let d = req.d;
    let header = alignment_header("covariance", d);
    let rows = |ode: bool| -> Vec<Vec<f64>> {
        let mut rows = Vec::new();
        for (ci, r) in outcome.runs.iter().enumerate() {
            let curves = if ode {
                &r.ode_alignment
            } else {
                &r.sim_alignment
            };
            for (s, a) in curves.iter().enumerate() {
                for k in 0..a.t.len() {
                    let mut row = vec![ci as f64, s as f64, a.t[k]];
                    row.extend(&a.cosines[k]);
                    row.extend([a.mean_cos[k], a.grassmann[k]]);
                    rows.push(row);
                }
            }
        }
        rows
    };
    write_csv(&staged.file("alignment.csv"), &header, &rows(false))?;
    write_csv(&staged.file("ode_alignment.csv"), &header, &rows(true))?;
    write_methods(req, prep, outcome, staged)?;
    let spec_rows: Vec<Vec<f64>> = prep
        .spectrum
        .iter()
        .enumerate()
        .map(|(i, &l)| vec![(i + 1) as f64, l])
        .collect();
    write_csv(
        &staged.file("spectrum.csv"),
        &["index".to_owned(), "eigenvalue".to_owned()],
        &spec_rows,
    )?;
    let lam = prep.effective();
    let summary: Vec<serde_json::Value> = outcome
        .runs
        .iter()
        .map(|r| {
            let (ms, ss) = mean_sd(&r.final_sim);
            let (mo, so) = mean_sd(&r.final_ode);
            let model = data_model(req, prep, outcome.alpha, r.covariance).ok();
            let modes = model.as_ref().map(effective_modes);
            json!({
                "covariance": cov_name(r.covariance),
                "alpha": r.alpha,
                "tau_tilde": r.alpha * req.tau,
                "lam_tilde": r.lam_tilde,
                "final_mean_cos_sim": { "mean": ms, "sd": ss, "per_seed": r.final_sim },
                "final_mean_cos_ode": { "mean": mo, "sd": so, "per_seed": r.final_ode },
                "predicted_phase": modes.as_ref().map(|m| m.predicted.to_string()),
                "mode_status": modes.as_ref().map(|m| m.modes.iter().map(|x| format!("{:?}", x.status)).collect::<Vec<_>>()),
            })
        })
        .collect();
    let name = format!("train-{}", req.dataset.name());
    let mut meta = Provenance::new(&name)
        .seed(req.seed)
        .threads(req.threads)
        .json();
    let extra = json!({
        "dataset": req.dataset.name(),
        "path": req.path.display().to_string(),
        "images": outcome.images,
        "n": prep.n,
        "image_shape": { "height": outcome.shape.0, "width": outcome.shape.1, "channels": outcome.shape.2 },
        "d": d,
        "scale": prep.scale,
        "estimated_effective_spectrum": lam,
        "spectrum_top": &prep.spectrum[..(4 * d).min(prep.n)],
        "tau": req.tau,
        "alpha": outcome.alpha,
        "tau_tilde": outcome.alpha * req.tau,
        "eta_t": 1.0,
        "eta_g": req.eta_g,
        "constraint": match req.constraint {
            hdgan_model::Constraint::Columns => "columns",
            hdgan_model::Constraint::Orthonormal => "orthonormal",
        },
        "t_end": outcome.t_end,
        "steps": (prep.n as f64 * outcome.t_end).round(),
        "seeds": req.seeds,
        "covariances": outcome.runs.iter().map(|r| cov_name(r.covariance)).collect::<Vec<_>>(),
        "final_alignment": summary,
        "final_alignment_definition": "mean cosine of the principal angles between span(V) and the top-d principal subspace, averaged over the last 10% of the recorded times",
        "columns": header,
        "files": {
            "alignment.csv": "per covariance (index into `covariances`), seed and time: cosines of the principal angles, their mean, Grassmann distance",
            "ode_alignment.csv": "the same for the reduced ODE (13) (the orthonormal model's ODE with constraint = orthonormal) from each seed's initial overlaps, Lam = estimated effective spectrum",
            "spectrum.csv": "eigenvalues of the centred, scaled covariance (noise bulk mean 1), descending",
            "alignment.svg": "mean cosine and Grassmann distance over time, runs (dots) and ODE (lines); also .png",
            "spectrum.svg": "the scaled spectrum, log scale, top 4d; also .png",
            "methods.csv": "per method (gan-<covariance> or a baseline), seed index and time: cosines of the principal angles, their mean, Grassmann distance, held-out reconstruction error |x - Pi x|^2 / |x|^2",
            "methods.svg": "Grassmann distance and held-out reconstruction error over time, every method, mean over seeds (line) and +- sd (dashed); also .png",
            "bases-pca.png": "the reference: top-d principal directions as images (8 per row)",
            "bases-<method>.png": "the method's basis at the end (seed 0), one image per column",
            "bases-<method>-over-time.png": "seed 0's first eight columns (one row per picture time, see methods[].picture_times)",
        },
        "train_seconds": outcome.seconds,
        "p": req.p,
        "holdout_images": outcome.holdout,
        "baselines": req.baselines.iter().map(|k| k.name()).collect::<Vec<_>>(),
        "methods": method_groups(&outcome.methods)
            .into_iter()
            .map(|(method, runs)| {
                let last = |v: &[f64]| *v.last().unwrap_or(&f64::NAN);
                let g: Vec<f64> = runs.iter().map(|r| last(&r.curve.grassmann)).collect();
                let e: Vec<f64> = runs.iter().map(|r| last(&r.recon)).collect();
                let us: Vec<f64> = runs.iter().map(|r| r.seconds_per_sample() * 1e6).collect();
                let (gm, gs) = mean_sd(&g);
                let (em, es) = mean_sd(&e);
                let (um, us_sd) = mean_sd(&us);
                json!({
                    "method": method,
                    "final_grassmann": { "mean": gm, "sd": gs, "per_seed": g },
                    "final_recon_error": { "mean": em, "sd": es, "per_seed": e },
                    "us_per_sample": { "mean": um, "sd": us_sd },
                    "picture_times": runs[0].snapshots.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
                })
            })
            .collect::<Vec<_>>(),
    });
    if let (Some(m), Some(e)) = (meta.as_object_mut(), extra.as_object()) {
        m.extend(e.clone());
    }
    write_json(&staged.file("summary.json"), &meta)?;
    let title = format!(
        "{} (n = {}, d = {d}, {} images, tau = {}, alpha = {:.2e})",
        req.dataset.name(),
        prep.n,
        outcome.images,
        req.tau,
        outcome.alpha
    );
    render_panels(
        &alignment_panels(&title, outcome),
        2,
        &staged.file("alignment.svg"),
        &staged.file("alignment.png"),
    )?;
    let top = (4 * d).min(prep.n);
    render(
        &Figure {
            title: format!(
                "{}: scaled covariance spectrum (bulk mean 1), top {top}",
                req.dataset.name()
            ),
            x_label: "index".into(),
            y_label: "log10 eigenvalue".into(),
            x_range: None,
            y_range: None,
            series: vec![Series {
                label: "eigenvalue".into(),
                color: PALETTE[0],
                style: Style::Dots,
                points: (0..top)
                    .map(|i| ((i + 1) as f64, prep.spectrum[i].max(1e-12).log10()))
                    .collect(),
            }],
        },
        &staged.file("spectrum.svg"),
        &staged.file("spectrum.png"),
    )?;
    Ok(())
}

/// Every file of `hdgan fluctuations` (THEORY §10): `ode.csv`/`.npy` (the path), `sigma.csv`
/// /`.npy` (one row per time: t, then `Sigma` row-major over the overlaps, columns
/// `Sigma_a_b`; `np.load(...)[:, 1:].reshape(T, N, N)`), `ode_sd.csv`/`.npy` at the chosen
/// n, `figure.svg`/`.png` (the ODE's cosines in their band), `config.toml` and
/// `fluctuations.json` (provenance, n, the ODE's switching time, columns).
pub fn write_fluctuations(
    valid: &ValidRun,
    run: &hdgan_experiments::fluctuations::FluctuationRun,
    staged: &StagedDir,
) -> Result<serde_json::Value> {
    let d = valid.model().d();
    let names = MacroState::column_names(d);
    let fl = &run.fl;
    write_ode(staged, &names, &fl.mean)?;
    let mut header = vec!["t".to_owned()];
    for a in &names {
        for b in &names {
            header.push(format!("Sigma_{a}_{b}"));
        }
    }
    let rows: Vec<Vec<f64>> = fl
        .mean
        .times
        .iter()
        .zip(&fl.cov)
        .map(|(t, c)| {
            std::iter::once(*t)
                .chain(c.as_slice().iter().copied())
                .collect()
        })
        .collect();
    write_csv(&staged.file("sigma.csv"), &header, &rows)?;
    write_npy(&staged.file("sigma.npy"), &rows)?;
    write_band(staged, &names, fl, run.n)?;
    let mut fig = figure1(
        &format!("{}: ODE +- 2 sd at n = {}", title_of(valid), run.n),
        &[],
        Some(&fl.mean),
    );
    crate::figures::add_band(&mut fig, fl, run.n);
    render(&fig, &staged.file("figure.svg"), &staged.file("figure.png"))?;
    write_config(valid.config(), staged)?;
    let mut meta = Provenance::new(valid.name())
        .config(valid.config())
        .seed(valid.seed())
        .json();
    meta["n"] = json!(run.n);
    meta["ode_switch_time"] = json!(run.switch);
    meta["seconds"] = json!(run.seconds);
    meta["tolerances"] = json!({
        "rtol": hdgan_stability::LNA_OPTIONS.rtol,
        "atol": hdgan_stability::LNA_OPTIONS.atol,
    });
    meta["columns"] = json!({
        "ode": std::iter::once("t".to_owned()).chain(names.iter().cloned()).collect::<Vec<_>>(),
        "sigma": "t, then Sigma_a_b for a, b over the ode columns (row-major)",
    });
    meta["files"] = json!({
        "ode.csv": "the limiting ODE at the record times, from the config's initial overlaps",
        "ode.npy": "same as ode.csv, float64 array",
        "sigma.csv": "Sigma(t): the covariance of sqrt(n) (M_k - M(k/n)), one row per time (t, then N x N entries row-major)",
        "sigma.npy": "same as sigma.csv, float64 array",
        "ode_sd.csv": "ode.csv's columns holding sqrt(Sigma_ii(t) / n) at this n",
        "ode_sd.npy": "same as ode_sd.csv, float64 array",
        "figure.svg": "the ODE's cosines with the band ODE +- 2 sd (also figure.png)",
        "config.toml": "the configuration",
    });
    write_json(&staged.file("fluctuations.json"), &meta)?;
    Ok(meta)
}

/// Writes `hdgan escape`'s folder: `escape.csv`/`.npy` (one row per size: the diffusion's
/// statistics, the saddle law's mean and sd where it applies, NaN where not),
/// `escape_times.csv`/`.npy` (every path's time, NaN when it did not escape), the figure and
/// `escape.json` (provenance, the law's parts, the ODE's own escape time).
pub fn write_escape(
    valid: &ValidRun,
    run: &hdgan_experiments::escape::EscapeRun,
    staged: &StagedDir,
) -> Result<serde_json::Value> {
    let nan = f64::NAN;
    let header: Vec<String> = [
        "n", "mean", "mean_se", "sd", "sd_se", "escaped", "censored", "law_mean", "law_sd",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let rows: Vec<Vec<f64>> = run
        .rows
        .iter()
        .map(|r| {
            let s = &r.stats;
            vec![
                r.n,
                s.mean,
                s.mean_se,
                s.sd,
                s.sd_se,
                s.escaped as f64,
                s.censored as f64,
                run.law.as_ref().map_or(nan, |l| l.mean(r.n)),
                run.law.as_ref().map_or(nan, |l| l.sd()),
            ]
        })
        .collect();
    write_csv(&staged.file("escape.csv"), &header, &rows)?;
    write_npy(&staged.file("escape.npy"), &rows)?;
    let times_header: Vec<String> = ["n", "path", "t"].iter().map(|s| (*s).to_owned()).collect();
    let times: Vec<Vec<f64>> = run
        .rows
        .iter()
        .flat_map(|r| {
            r.times
                .iter()
                .enumerate()
                .map(move |(i, t)| vec![r.n, i as f64, t.unwrap_or(f64::NAN)])
        })
        .collect();
    write_csv(&staged.file("escape_times.csv"), &times_header, &times)?;
    write_npy(&staged.file("escape_times.npy"), &times)?;
    let fig = crate::figures::escape_figure(&title_of(valid), run);
    render(&fig, &staged.file("figure.svg"), &staged.file("figure.png"))?;
    write_config(valid.config(), staged)?;
    let req = &run.request;
    let mut meta = Provenance::new(valid.name())
        .config(valid.config())
        .seed(valid.seed())
        .json();
    meta["feature"] = json!(req.feature);
    meta["threshold"] = json!(req.threshold);
    meta["paths"] = json!(req.paths);
    meta["dt"] = json!(req.dt);
    meta["t_max"] = json!(valid.sim().t_end);
    meta["ode_escape_time"] = json!(run.ode_escape);
    meta["saddle_law"] = match &run.law {
        Some(l) => json!({
            "kappa": l.kappa,
            "slope": l.slope(),
            "sd": l.sd(),
            "amplitude": l.amplitude,
            "offset_t1": l.offset,
            "saddle": l.saddle.pack(),
        }),
        None => json!({ "absent": run.law_absent }),
    };
    meta["seconds"] = json!(run.seconds);
    meta["columns"] = json!({ "escape": header, "escape_times": times_header });
    meta["files"] = json!({
        "escape.csv": "per size n: the diffusion's mean escape time (and SE), sd (and SE), paths escaped and censored by sim.t_end, the saddle law's mean and sd (NaN where the start has a residual overlap)",
        "escape.npy": "same as escape.csv, float64 array",
        "escape_times.csv": "every diffusion path's escape time (NaN: not escaped by sim.t_end)",
        "escape_times.npy": "same as escape_times.csv, float64 array",
        "figure.svg": "mean escape time +- sd against log10 n, with the saddle law or the ODE's own escape time (also figure.png)",
        "config.toml": "the configuration",
    });
    write_json(&staged.file("escape.json"), &meta)?;
    Ok(meta)
}

/// Writes `config.toml`: the run's configuration as validated.
fn write_config(config: &hdgan_experiments::config::RunConfig, staged: &StagedDir) -> Result<()> {
    let text = toml::to_string(config).map_err(|e| Error::encode("the config", e))?;
    let path = staged.file("config.toml");
    std::fs::write(&path, text).map_err(|e| Error::io("write", &path, e))
}
