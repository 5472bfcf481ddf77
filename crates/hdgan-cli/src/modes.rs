//! `hdgan modes`: the effective second moments of a config's latents, their modes and
//! each mode's solvable interval (SPEC §8), as a table, files and a plot; with `--run`,
//! also the simulation and the limiting ODE seen in the mode basis, classified by mode.

use crate::config::{parse_toml, read_file};
use crate::output::{OutputRequest, write_csv, write_json, write_npy};
use crate::plot::{Figure, PALETTE, Series, Style, render};
use crate::run::{Progress, RunRequest, cosine_figure, prepare, simulate, write_run_files};
use crate::{InputError, build_info};
use anyhow::Result;
use hdgan_core::{MacroState, Trajectory};
use hdgan_model::{Model, ModelConfig};
use hdgan_stability::{
    EffectiveModes, ModeStatus, PhaseRule, PhaseSummary, classify, classify_ode_viewed,
    effective_modes, in_mode_basis,
};
use serde::Deserialize;
use serde_json::json;
use std::path::PathBuf;

/// What `hdgan modes` was asked to do.
#[derive(Clone, Debug, Default)]
pub struct ModesRequest {
    /// The config (any config with a `[model]` table; a run config for `run`).
    pub config: PathBuf,
    /// Output folder override.
    pub out: Option<PathBuf>,
    /// Also simulate and solve the ODE (the config's `[init]`, `[sim]`, `[ode]`).
    pub run: bool,
    /// Seed override (with `run`).
    pub seed: Option<u64>,
    /// Worker threads (with `run`).
    pub threads: Option<usize>,
    /// Progress reporting.
    pub progress: Progress,
    /// `--overwrite`: an earlier hdgan output folder at `out` may be replaced.
    pub overwrite: bool,
}

/// What `hdgan modes` produced.
#[derive(Clone, Debug)]
pub struct ModesOutcome {
    /// The folder written.
    pub out_dir: PathBuf,
    /// The modes and their intervals.
    pub modes: EffectiveModes,
    /// With `run`: the phase of simulation member 0 and of the ODE, in the mode basis.
    pub phases: Option<(Option<PhaseSummary>, Option<PhaseSummary>)>,
}

#[derive(Deserialize)]
struct ModelOnly {
    model: ModelConfig,
}

/// Parses and validates the `[model]` table of any config (`hdgan modes` without
/// `--run`); `origin` names the source in errors.
pub fn validate_model_only(text: &str, origin: &str) -> Result<Model, InputError> {
    let cfg: ModelOnly = parse_toml(text, origin)?;
    Ok(cfg.model.validate("model")?)
}

fn status_name(s: ModeStatus) -> &'static str {
    match s {
        ModeStatus::NotLearned => "not learnable",
        ModeStatus::Stable => "in interval",
        ModeStatus::Oscillating => "too strong",
    }
}

fn status_code(s: ModeStatus) -> f64 {
    match s {
        ModeStatus::NotLearned => 0.0,
        ModeStatus::Stable => 1.0,
        ModeStatus::Oscillating => 2.0,
    }
}

/// Upper end of mode l's interval: `lam <= 2 tau eta^2 + (1 - alpha) lam~`.
fn upper_end(m: &EffectiveModes, l: usize) -> f64 {
    2.0 * m.tau_eta_sq + (1.0 - m.alpha) * m.modes[l].lam_tilde
}

/// The table `hdgan modes` prints.
pub fn modes_table(m: &EffectiveModes) -> String {
    let mut out = format!(
        "tau eta^2 = {:.4}, alpha = {:.4}; mode l is learned and stable when tau eta^2 < lam_l <= 2 tau eta^2 + (1 - alpha) lam~_l (matched lam~ = lam: lam <= {:.4})\n",
        m.tau_eta_sq, m.alpha, m.matched_upper
    );
    out.push_str(&format!(
        "{:<5} {:>10} {:>10} {:>24}  {:<14} {:>7}  data vector e_l\n",
        "mode", "lam", "lam~", "interval", "status", "p*"
    ));
    for (l, md) in m.modes.iter().enumerate() {
        let vec = md
            .vector
            .iter()
            .take(6)
            .map(|x| format!("{x:+.3}"))
            .collect::<Vec<_>>()
            .join(" ");
        out.push_str(&format!(
            "{:<5} {:>10.4} {:>10.4} {:>24}  {:<14} {:>7}  [{}{}]\n",
            l + 1,
            md.lam,
            md.lam_tilde,
            format!("({:.4}, {:.4}]", m.tau_eta_sq, upper_end(m, l)),
            status_name(md.status),
            md.p_star.map(|p| format!("{p:.4}")).unwrap_or("-".into()),
            vec,
            if md.vector.len() > 6 { " ..." } else { "" }
        ));
    }
    if m.generator_mismatch > 0.0 {
        out.push_str(&format!(
            "note: M~ is not diagonal in the generator's coordinates (largest off-diagonal {:.3} of the largest entry); \
             the column constraint couples its modes, so the intervals are an approximation (see `--run` for the ODE)\n",
            m.generator_mismatch
        ));
    }
    out.push_str(&format!("predicted: {}\n", m.predicted));
    out
}

/// The spectrum plot: each mode's `lam` (dots) and `lam~` (crosses) against its interval
/// (`tau eta^2` below, `2 tau eta^2 + (1 - alpha) lam~` above, dashed).
pub fn spectrum_figure(title: &str, m: &EffectiveModes) -> Figure {
    let d = m.modes.len();
    let x = |l: usize| (l + 1) as f64;
    let lower = vec![(0.5, m.tau_eta_sq), (d as f64 + 0.5, m.tau_eta_sq)];
    let upper: Vec<(f64, f64)> = (0..d)
        .flat_map(|l| [(x(l) - 0.4, upper_end(m, l)), (x(l) + 0.4, upper_end(m, l))])
        .collect();
    let mut series = vec![
        Series {
            label: "tau eta^2 (learnable above)".into(),
            color: PALETTE[6],
            style: Style::Dashed,
            points: lower,
        },
        Series {
            label: "lam~".into(),
            color: PALETTE[1],
            style: Style::Crosses,
            points: (0..d).map(|l| (x(l), m.modes[l].lam_tilde)).collect(),
        },
        Series {
            label: "lam (effective eigenvalue)".into(),
            color: PALETTE[0],
            style: Style::Dots,
            points: (0..d).map(|l| (x(l), m.modes[l].lam)).collect(),
        },
    ];
    // One dashed segment per mode for the upper end (a line through all of them would
    // suggest a continuum).
    for (l, seg) in upper.chunks(2).enumerate() {
        series.push(Series {
            label: if l == 0 {
                "upper end 2 tau eta^2 + (1 - alpha) lam~".into()
            } else {
                String::new()
            },
            color: PALETTE[2],
            style: Style::Line,
            points: seg.to_vec(),
        });
    }
    let top = m
        .modes
        .iter()
        .enumerate()
        .map(|(l, md)| md.lam.max(md.lam_tilde).max(upper_end(m, l)))
        .fold(m.tau_eta_sq, f64::max);
    Figure {
        title: format!("{title}: effective modes (predicted {})", m.predicted),
        x_label: "mode l (by decreasing lam)".into(),
        y_label: "eigenvalue".into(),
        x_range: Some((0.5, d as f64 + 0.5)),
        y_range: Some((0.0, 1.1 * top)),
        series,
    }
}

fn mode_rows(m: &EffectiveModes) -> (Vec<String>, Vec<Vec<f64>>) {
    let d = m.modes.len();
    let mut header: Vec<String> = [
        "mode",
        "lam",
        "lam_tilde",
        "status",
        "p_star",
        "lower",
        "upper",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    header.extend((0..d).map(|i| format!("e{}", i + 1)));
    header.extend((0..d).map(|i| format!("g{}", i + 1)));
    let rows = m
        .modes
        .iter()
        .enumerate()
        .map(|(l, md)| {
            let mut r = vec![
                (l + 1) as f64,
                md.lam,
                md.lam_tilde,
                status_code(md.status),
                md.p_star.unwrap_or(f64::NAN),
                m.tau_eta_sq,
                upper_end(m, l),
            ];
            r.extend(&md.vector);
            r.extend(&md.generator_vector);
            r
        })
        .collect();
    (header, rows)
}

fn traj_rows(t: &Trajectory, member: Option<usize>) -> Vec<Vec<f64>> {
    t.rows()
        .into_iter()
        .map(|r| match member {
            Some(m) => std::iter::once(m as f64).chain(r).collect(),
            None => r,
        })
        .collect()
}

/// Runs `hdgan modes`.
pub fn execute_modes(req: &ModesRequest) -> Result<ModesOutcome> {
    let name = req
        .config
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "modes".into());
    let (model, run) = if req.run {
        let valid = prepare(&RunRequest {
            config: Some(req.config.clone()),
            out: req.out.clone(),
            seed: req.seed,
            threads: req.threads,
            engine: None,
            progress: req.progress,
            overwrite: req.overwrite,
            checkpoint_every: None,
            resume: None,
        })?;
        (valid.model.clone(), Some(valid))
    } else {
        let (_, text) = read_file(&req.config)?;
        let model = validate_model_only(&text, &req.config.display().to_string())?;
        (model, None)
    };
    model
        .require_single_feature("`hdgan modes`")
        .map_err(InputError::from)?;
    let modes = effective_modes(&model);
    let staged = crate::open_output(
        &OutputRequest::choose(
            req.out.as_deref(),
            run.as_ref().and_then(|v| v.config.output.dir.as_deref()),
            PathBuf::from("out").join(format!("{name}-modes")),
            req.overwrite,
        )
        .with_input(Some(&req.config)),
    )?;
    crate::out!("{}", modes_table(&modes));
    let (header, rows) = mode_rows(&modes);
    write_csv(&staged.file("modes.csv"), &header, &rows)?;
    let title = run
        .as_ref()
        .and_then(|v| v.config.title.clone())
        .unwrap_or_else(|| name.clone());
    render(
        &spectrum_figure(&title, &modes),
        &staged.file("spectrum.svg"),
        &staged.file("spectrum.png"),
    )?;
    let (version, revision) = build_info();
    let mut meta = json!({
        "hdgan_version": version,
        "git_revision": revision,
        "name": name,
        "second_moment": model.latent.second_moment().matrix().to_rows(),
        "second_moment_tilde": model.latent_tilde.second_moment().matrix().to_rows(),
        "modes": modes,
        "columns": { "modes.csv": header },
        "status_codes": { "0": "not learnable (lam <= tau eta^2)", "1": "in the solvable interval", "2": "too strong (oscillation)" },
    });
    let mut phases = None;
    if let Some(valid) = &run {
        let (sim, ode, sim_seconds) = simulate(valid, req.threads, req.progress)?;
        let view = |t: &Trajectory| in_mode_basis(t, &modes);
        let sim_m: Vec<Trajectory> = sim.iter().map(view).collect();
        let ode_m = ode.as_ref().map(view);
        let ode_phase = match (&valid.ode, valid.model.lambda.is_infinite()) {
            (Some((_, opts)), true) => classify_ode_viewed(
                &valid.model,
                &sim[0].states[0],
                valid.config.sim.t_end,
                40,
                &PhaseRule::default(),
                opts,
                &view,
            )
            .ok()
            .map(|(s, _, _)| s),
            _ => ode_m
                .as_ref()
                .and_then(|o| classify(o, &PhaseRule::default())),
        };
        let ph = (
            classify(&sim_m[0], &PhaseRule::for_dimension(valid.model.n)),
            ode_phase,
        );
        let run_meta = write_run_files(
            valid,
            &sim,
            ode.as_ref(),
            &ph,
            sim_seconds,
            req.threads,
            &staged,
        )?;
        let names = MacroState::column_names(model.d);
        let mut sim_header = vec!["member".to_owned(), "t".to_owned()];
        sim_header.extend(names.iter().cloned());
        let sim_rows: Vec<Vec<f64>> = sim_m
            .iter()
            .enumerate()
            .flat_map(|(k, t)| traj_rows(t, Some(k)))
            .collect();
        write_csv(&staged.file("sim_modes.csv"), &sim_header, &sim_rows)?;
        write_npy(&staged.file("sim_modes.npy"), &sim_rows)?;
        if let Some(o) = &ode_m {
            let header: Vec<String> = std::iter::once("t".to_owned()).chain(names).collect();
            let rows = traj_rows(o, None);
            write_csv(&staged.file("ode_modes.csv"), &header, &rows)?;
            write_npy(&staged.file("ode_modes.npy"), &rows)?;
        }
        render(
            &cosine_figure(
                &format!("{title}: by effective mode (n = {})", model.n),
                &sim_m,
                ode_m.as_ref(),
                &|i| (format!("mode {}", i + 1), format!("|q'{}|", i + 1)),
            ),
            &staged.file("modes_figure.svg"),
            &staged.file("modes_figure.png"),
        )?;
        if let Some(p) = &ph.0 {
            crate::outln!("phase by mode (simulation, member 0): {}", p.phase);
        }
        if let Some(p) = &ph.1 {
            crate::outln!("phase by mode (ODE): {}", p.phase);
        }
        meta["run"] = run_meta;
        meta["phase_by_mode"] = json!({ "sim_member0": ph.0, "ode": ph.1 });
        meta["files"] = json!({
            "sim_modes.csv": "simulation in the mode bases: P' = E P G^T, q' = E q, r' = G r, S' = G S G^T (rows of E, G: the modes in modes.csv)",
            "ode_modes.csv": "the ODE in the mode bases",
            "modes_figure.svg": "per-mode cosines P'_ll / sqrt(S'_ll) and |q'_l| over time (also .png)",
        });
        phases = Some(ph);
    }
    write_json(&staged.file("modes.json"), &meta)?;
    let out_dir = staged.commit()?;
    Ok(ModesOutcome {
        out_dir,
        modes,
        phases,
    })
}
