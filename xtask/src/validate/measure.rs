//! Checks of the microscopic description (THEORY §5): empirical moments, the Gaussian law of
//! Figure 2, the grid and particle solvers, and a regulariser under which the ODE does not
//! close.

use super::{Check, Ctx, Outcome};
use crate::stats::{linear_fit, mean, se};
use anyhow::Result;
use hdgan_core::{DMat, MacroState};
use hdgan_macro_ode::{OdeKind, OdeOptions, solve};
use hdgan_micro_sim::DEFAULT_BLOWUP;
use hdgan_micro_sim::{InitState, RunControl, Schedule, Sgda, StepMode, run_ensemble};
use hdgan_model::{LambdaValue, LogisticQuadratic, Loss, Model};
use hdgan_pde_measure::distance::sliced_w1_gaussian;
use hdgan_pde_measure::grid::GridDensity;
use hdgan_pde_measure::measure::sample_moments;
use hdgan_pde_measure::particles::{LinearParticles, MeanField};
use hdgan_pde_measure::{CoefficientPath, EmpiricalMeasure, Gaussian2, Row, gaussian_path};
use hdgan_report::plot::{Figure, PALETTE, Series, Style};

pub(super) fn checks() -> Vec<Check> {
    vec![
        Check {
            name: "measure_moments",
            claim: "The empirical moments of the scaled rows at t = 0, 10, 100, 150 (Figure 2 setting) equal the ODE's (P, q, r, S, z) up to O(1/sqrt n) fluctuations.",
            run: measure_moments,
        },
        Check {
            name: "fig2_gaussian",
            claim: "The rows' empirical law is the Gaussian solution of PDE (12), for the quadratic and for the logistic loss: its sliced W1 distance from the prediction shrinks like 1/sqrt(n) (two n's), and a wrong prediction is rejected.",
            run: fig2_gaussian,
        },
        Check {
            name: "pde_grid_vs_gaussian",
            claim: "The finite-volume Fokker-Planck solver conserves mass to 1e-10, never goes negative, and converges to the Gaussian closed form as the grid is refined (observed order between 1 and 2.2 for MUSCL-minmod).",
            run: pde_grid_vs_gaussian,
        },
        Check {
            name: "sde_particles_vs_gaussian",
            claim: "The SDE particle solver's moments converge to the Gaussian closed form at rate 1/sqrt(N) in the particle count.",
            run: sde_particles_vs_gaussian,
        },
        Check {
            name: "nonclosed_regulariser",
            claim: "With an elementwise L1 penalty on w the mean-field particle solver still predicts the simulation's macroscopic path, while the ODE that ignores the penalty (the best closed description) does not.",
            run: nonclosed_regulariser,
        },
    ]
}

/// Figure 2's model (d = 1, Lam = Lam~ = 5, Figure 1's rates) at dimension n.
fn fig2_model(n: usize, lambda: LambdaValue, l1: f64) -> Result<Model> {
    Ok(hdgan_experiments::reference::figure2(n, lambda, l1)?)
}

fn fig2_init(m: &Model) -> Result<InitState> {
    Ok(hdgan_experiments::reference::figure2_init(m)?)
}

const TIMES: [f64; 4] = [0.0, 10.0, 100.0, 150.0];

/// One seed's macroscopic states and rows `(v^, w^)` at [`TIMES`].
type Fig2Run = (Vec<MacroState>, Vec<Vec<Row>>);

/// Per seed: the macroscopic states and the rows `(v^, w^)` at [`TIMES`].
fn fig2_runs(n: usize, seeds: usize, base_seed: u64, loss: Loss) -> Result<Vec<Fig2Run>> {
    let m = fig2_model(n, LambdaValue::default(), 0.0)?.with_loss(loss)?;
    let init = fig2_init(&m)?;
    let out: Vec<Result<Fig2Run>> = {
        use rayon::prelude::*;
        (0..seeds)
            .into_par_iter()
            .map(|s| {
                let mut rng = hdgan_model::random::stream_rng(base_seed, s as u64);
                let mut e = Sgda::new(&m, init.build(n, &mut rng), StepMode::Fast, DEFAULT_BLOWUP)?;
                let (mut states, mut rows) = (Vec::new(), Vec::new());
                let mut prev = 0.0;
                for &t in &TIMES {
                    let steps = ((t - prev) * n as f64).round() as u64;
                    if steps > 0 {
                        hdgan_micro_sim::run(
                            &mut e,
                            &mut rng,
                            &Schedule {
                                steps,
                                record_every: steps,
                            },
                            RunControl::default(),
                        )?;
                    }
                    let x = e.micro_state();
                    states.push(x.macro_state());
                    rows.push(EmpiricalMeasure::from_state(&x).conditional(1.0, 1e-9));
                    prev = t;
                }
                Ok((states, rows))
            })
            .collect()
    };
    out.into_iter().collect()
}

fn measure_moments(ctx: &Ctx) -> Result<Outcome> {
    let n = ctx.pick(2500, 10000);
    let seeds = 8;
    let runs = fig2_runs(n, seeds, 4000, Loss::Quadratic)?;
    let m = fig2_model(n, LambdaValue::default(), 0.0)?;
    let names = MacroState::column_names(1);
    let mut worst = (0.0f64, String::new());
    let mut rows = vec!["| t | entry | ODE | mean over seeds (SE) |\n|---|---|---|---|".to_owned()];
    // Each seed's ODE starts at its own initial overlaps; compare the seed-mean deviation.
    let odes: Vec<Vec<MacroState>> = runs
        .iter()
        .map(|(s, _)| {
            Ok(solve(&m, OdeKind::Reduced, &s[0], &TIMES, &OdeOptions::default())?.states)
        })
        .collect::<Result<_>>()?;
    for (ti, &t) in TIMES.iter().enumerate() {
        for e in 0..names.len() {
            let devs: Vec<f64> = runs
                .iter()
                .zip(&odes)
                .map(|((s, _), o)| s[ti].pack()[e] - o[ti].pack()[e])
                .collect();
            let ode0 = odes[0][ti].pack()[e];
            let r = mean(&devs).abs() / (4.5 * se(&devs) + 2.0 / n as f64);
            if r > worst.0 {
                worst = (r, format!("{} at t = {t}", names[e]));
            }
            if ["P11", "q1", "r1"].contains(&names[e].as_str()) {
                let sim: Vec<f64> = runs.iter().map(|(s, _)| s[ti].pack()[e]).collect();
                rows.push(format!(
                    "| {t} | {} | {ode0:.4} | {:.4} ({:.4}) |",
                    names[e],
                    mean(&sim),
                    se(&sim)
                ));
            }
        }
    }
    let mut out = Outcome::from_verdicts(
        &[worst.0 <= 1.0],
        format!(
            "max |mean deviation| / (4.5 SE + 2/n) = {:.2} ({})",
            worst.0, worst.1
        ),
        "<= 1".into(),
    );
    out.details.push(format!(
        "Figure 2 setting (d = 1, u^ = 1 for every row, Gaussian initial rows), n = {n}, {seeds} seeds, each compared with the reduced ODE \
         from its own initial overlaps. The moments of the empirical measure ARE the macroscopic state (<mu, u^ v^> = P, ...); the test is \
         that their seed-mean deviation from the ODE is within 4.5 standard errors (family of 20 entry-time pairs: false-alarm rate ~1e-4) \
         plus 2/n for the O(1/n) bias.\n"
    ));
    out.details.extend(rows);
    Ok(out)
}

fn fig2_gaussian(ctx: &Ctx) -> Result<Outcome> {
    let seeds = 6;
    let mut verdicts = Vec::new();
    let mut measured = Vec::new();
    let mut details = Vec::new();
    for (li, loss) in [
        Loss::Quadratic,
        Loss::Logistic(LogisticQuadratic { bias: 1.0 }),
    ]
    .into_iter()
    .enumerate()
    {
        // The logistic loss learns more slowly here, and at n = 625 the run's timing still
        // strays from the ODE's (its distance is 4x the quadratic's): it starts at 1250.
        let (n1, n2) = match (ctx.quick, li) {
            (true, 0) => (625, 2500),
            (true, _) => (1250, 5000),
            (false, _) => (2500, 10000),
        };
        let mut per_n = Vec::new();
        let mut wrong_dist = Vec::new();
        for (k, &n) in [n1, n2].iter().enumerate() {
            let runs = fig2_runs(n, seeds, 5000 + 10 * li as u64 + k as u64, loss)?;
            let m = fig2_model(n, LambdaValue::default(), 0.0)?.with_loss(loss)?;
            let mut dists = Vec::new();
            for (states, rows) in &runs {
                let path = CoefficientPath::new(&m, &states[0], 150.0, 0.05)?;
                let (m0, c0) = sample_moments(&rows[0]);
                let laws = gaussian_path(&m, &path, 1.0, Gaussian2 { mean: m0, cov: c0 });
                let mut d = Vec::new();
                for (ti, &t) in TIMES.iter().enumerate().skip(1) {
                    let g = laws[(t / 0.05).round() as usize].1;
                    d.push(sliced_w1_gaussian(&rows[ti], &g, 16));
                    if n == n2 && ti == 3 {
                        // Negative control: the prediction with the noise variance b halved.
                        let mut wrong = g;
                        wrong.cov[1][1] *= 0.7;
                        wrong_dist.push(sliced_w1_gaussian(&rows[ti], &wrong, 16));
                    }
                }
                dists.push(mean(&d));
            }
            per_n.push((n, dists));
        }
        let (a, b) = (&per_n[0].1, &per_n[1].1);
        // Exponent of D ~ n^-beta from the two sizes; its SE by the delta method.
        let ratio = mean(a) / mean(b);
        let beta = ratio.ln() / (n2 as f64 / n1 as f64).ln();
        let rel = ((se(a) / mean(a)).powi(2) + (se(b) / mean(b)).powi(2)).sqrt();
        let beta_se = rel / (n2 as f64 / n1 as f64).ln();
        let z_wrong =
            (mean(&wrong_dist) - mean(b)) / (se(&wrong_dist).powi(2) + se(b).powi(2)).sqrt();
        let ok_beta = (beta - 0.5).abs() <= 3.0 * beta_se + 0.1;
        verdicts.extend([ok_beta, z_wrong >= 5.0]);
        measured.push(format!(
            "{loss}: sliced W1 {:.4} -> {:.4} (n {n1} -> {n2}): exponent {beta:.3} +- {beta_se:.3}; wrong prediction z = {z_wrong:.1}",
            mean(a),
            mean(b)
        ));
        details.push(format!(
            "| {loss} | {n1} | {:.5} ({:.5}) |\n| {loss} | {n2} | {:.5} ({:.5}) |",
            mean(a),
            se(a),
            mean(b),
            se(b)
        ));
    }
    let mut out = Outcome::from_verdicts(
        &verdicts,
        measured.join("; "),
        "|beta - 0.5| <= 3 SE + 0.1; wrong-covariance z >= 5 (each loss)".into(),
    );
    out.details.insert(0, format!(
        "Figure 2 setting, {seeds} seeds per n, with the quadratic loss and with the logistic loss (bias 1; the row SDE's \
         coefficients are then the logistic averages with the reduced ODE's multipliers, THEORY §5). D = mean over t = 10, 100, 150 \
         of the sliced W1 distance (16 directions) between the rows (v^, w^) and the Gaussian solution of (12) started from the rows' \
         own initial mean and covariance. For n rows drawn from the predicted law the 1-D W1 of a projection scales like 1/sqrt(n); \
         the exponent estimate from two n's carries the seeds' SE (delta method) and 0.1 for the finite-n correction of that law. \
         The negative control shrinks the predicted w-variance at t = 150 by 30% (what a wrong noise coefficient b would do): the \
         distance must grow by z >= 5.\n\n| loss | n | mean D (SE) |\n|---|---|---|"
    ));
    out.details.extend(details);
    Ok(out)
}

fn pde_grid_vs_gaussian(ctx: &Ctx) -> Result<Outcome> {
    let m = fig2_model(10000, LambdaValue::default(), 0.0)?;
    let s0 = MacroState::from_overlaps(DMat::from_diag(&[0.1]), vec![0.1], &[1.0], 1.0);
    let t_end = 10.0;
    let path = CoefficientPath::new(&m, &s0, t_end, 0.05)?;
    let g0 = Gaussian2::from_macro_constant_features(&s0);
    let exact = gaussian_path(&m, &path, 1.0, g0)
        .last()
        .map(|x| x.1)
        .ok_or_else(|| anyhow::anyhow!("empty"))?;
    let sizes: Vec<usize> = ctx.pick(vec![32, 64, 128], vec![32, 64, 128, 256]);
    let mut errs = Vec::new();
    let mut rows = vec![
        "| cells per axis | mass - 1 | min density | max moment error |\n|---|---|---|---|"
            .to_owned(),
    ];
    let (mut mass_ok, mut pos_ok) = (true, true);
    for &nc in &sizes {
        let mut d = GridDensity::from_gaussian(&g0, (-5.0, 5.0), (-5.0, 5.0), nc, nc);
        let started = std::time::Instant::now();
        d.advance(&m, &path, 1.0, 0.0, t_end);
        let per_t = started.elapsed().as_secs_f64() / t_end;
        let mo = d.moments();
        // Cell-centre quadrature of a piecewise-constant density: the variance of the
        // exact cell-average function exceeds the centre-point one by h^2 / 12.
        let (hv, hw) = d.spacing();
        let mut law = mo.law;
        law.cov[0][0] += hv * hv / 12.0;
        law.cov[1][1] += hw * hw / 12.0;
        let err = (0..2)
            .map(|i| (law.mean[i] - exact.mean[i]).abs())
            .chain(
                (0..2)
                    .flat_map(|i| (0..2).map(move |j| (i, j)))
                    .map(|(i, j)| (law.cov[i][j] - exact.cov[i][j]).abs()),
            )
            .fold(0.0, f64::max);
        mass_ok &= (mo.mass - 1.0).abs() <= 1e-10;
        pos_ok &= mo.min >= 0.0;
        errs.push(err);
        rows.push(format!(
            "| {nc} | {:.1e} | {:.1e} | {err:.3e} | {per_t:.3} |",
            mo.mass - 1.0,
            mo.min
        ));
    }
    let lx: Vec<f64> = sizes.iter().map(|&s| (s as f64).ln()).collect();
    let ly: Vec<f64> = errs.iter().map(|e| e.ln()).collect();
    let (_, slope, _) = linear_fit(&lx, &ly);
    let order = -slope;
    let mut out = Outcome::from_verdicts(
        &[
            mass_ok,
            pos_ok,
            (1.0..=2.2).contains(&order),
            errs.windows(2).all(|w| w[1] < w[0]),
        ],
        format!(
            "order {order:.2}; finest error {:.2e}; mass and positivity kept",
            errs[errs.len() - 1]
        ),
        "|mass - 1| <= 1e-10, rho >= 0, order in [1, 2.2], errors decreasing".into(),
    );
    out.details.push(format!(
        "Figure 2 dynamics over t in [0, {t_end}] from the Gaussian N((0.1, 0.1), 0.99 I), box [-5, 5]^2 with zero-flux walls. Error: \
         largest difference of mean and covariance entries from the closed form (RK4 moment ODE, dt = 0.05), after the h^2/12 \
         quadrature correction. MUSCL with the minmod limiter is second order where the solution is smooth and monotone and drops \
         towards first order at extrema, so the observed order lies between 1 and 2 (2.2 allows fitting noise).\n"
    ));
    out.details.extend(rows);
    Ok(out)
}

fn sde_particles_vs_gaussian(ctx: &Ctx) -> Result<Outcome> {
    let m = fig2_model(10000, LambdaValue::default(), 0.0)?;
    let s0 = MacroState::from_overlaps(DMat::from_diag(&[0.1]), vec![0.1], &[1.0], 1.0);
    let path = CoefficientPath::new(&m, &s0, 20.0, 0.05)?;
    let g0 = Gaussian2::from_macro_constant_features(&s0);
    let exact = gaussian_path(&m, &path, 1.0, g0)
        .last()
        .map(|x| x.1)
        .ok_or_else(|| anyhow::anyhow!("empty"))?;
    let counts: Vec<usize> = ctx.pick(
        vec![1000, 10_000, 100_000],
        vec![1000, 10_000, 100_000, 1_000_000],
    );
    let seeds = 16;
    let mut errs = Vec::new();
    let mut rows = vec!["| particles | mean over seeds of the RMS moment error (SE) | sqrt(N) x error | seconds per unit t |\n|---|---|---|---|".to_owned()];
    for &count in &counts {
        let mut e = Vec::new();
        let started = std::time::Instant::now();
        for s in 0..seeds {
            let mut p = LinearParticles::gaussian(
                count,
                g0.mean,
                g0.cov,
                1.0,
                6000 + s as u64 * 1000 + count as u64,
            );
            for k in 0..path.steps() {
                p.step(&m, &path, k);
            }
            let (mm, cc) = sample_moments(&p.x);
            // RMS over the five distinct moments (two means, three covariance entries).
            let d = [
                mm[0] - exact.mean[0],
                mm[1] - exact.mean[1],
                cc[0][0] - exact.cov[0][0],
                cc[0][1] - exact.cov[0][1],
                cc[1][1] - exact.cov[1][1],
            ];
            e.push((d.iter().map(|x| x * x).sum::<f64>() / 5.0).sqrt());
        }
        let per_t = started.elapsed().as_secs_f64() / (seeds as f64 * 20.0);
        rows.push(format!(
            "| {count} | {:.3e} ({:.1e}) | {:.3} | {per_t:.4} |",
            mean(&e),
            se(&e),
            mean(&e) * (count as f64).sqrt()
        ));
        errs.push(mean(&e));
    }
    let lx: Vec<f64> = counts.iter().map(|&c| (c as f64).ln()).collect();
    let ly: Vec<f64> = errs.iter().map(|e| e.ln()).collect();
    let (_, slope, slope_se) = linear_fit(&lx, &ly);
    let mut out = Outcome::from_verdicts(
        &[(-0.65..=-0.35).contains(&slope)],
        format!(
            "log-log slope {slope:.3} (fit SE {slope_se:.3}); error {:.2e} at N = {}",
            errs[errs.len() - 1],
            counts[counts.len() - 1]
        ),
        "slope in [-0.65, -0.35] (expected -1/2)".into(),
    );
    out.details.push(
        "Exponential-integrator particles (coefficients frozen at each step's midpoint, dt = 0.05) over t in [0, 20] from \
         N((0.1, 0.1), 0.99 I); error: RMS deviation of the five moments (means, covariance entries) from the closed form, \
         averaged over 16 seeds. Monte Carlo error scales like 1/sqrt(N); the integrator's O(dt^2) bias (below 1e-5 here) is far below the smallest \
         Monte Carlo error, so the slope must be -1/2 within the band (the band covers the fit's spread over 3-4 points).\n"
            .into(),
    );
    out.details.extend(rows);
    Ok(out)
}

fn nonclosed_regulariser(ctx: &Ctx) -> Result<Outcome> {
    let n = ctx.pick(2000, 4000);
    let seeds = ctx.pick(4, 6);
    // lambda = 5 keeps |w|^2 within O(1) of 1; at lambda = 2 the same penalty drives z to
    // 10-17 near t = 6, a violent transient whose seed spread (SE 1.2) makes any finite-n
    // comparison fragile.
    let (l1, lam) = (1.0, 5.0);
    let t_end = 20.0;
    let m = fig2_model(n, LambdaValue::Number(lam), l1)?;
    let init = fig2_init(&fig2_model(n, LambdaValue::Number(lam), 0.0)?)?;
    let schedule = Schedule::from_times(n, t_end, 1.0)?;
    let sims = run_ensemble(
        seeds,
        7000,
        |_, rng| Sgda::new(&m, init.build(n, rng), StepMode::Literal, DEFAULT_BLOWUP),
        &schedule,
        RunControl::default(),
    )?;
    let times = schedule.record_times(n);
    // Mean-field particles from the same initial law, Euler-Maruyama with dt = 0.005.
    let count: usize = ctx.pick(100_000, 400_000);
    let dt: f64 = 0.005;
    let mut mf = MeanField::gaussian(count, [0.1, 0.1], [[0.99, 0.0], [0.0, 0.99]], l1, 7100);
    let mut particle_path = vec![mf.moments()];
    let per = (1.0 / dt).round() as usize;
    for _ in 1..times.len() {
        for _ in 0..per {
            mf.step(&m, dt);
        }
        particle_path.push(mf.moments());
    }
    // The closed ODE that ignores the penalty, from the simulations' mean initial state.
    let m_closed = m.with_l1(0.0)?;
    let mean0 = hdgan_core::Trajectory::mean(&sims).ok_or_else(|| anyhow::anyhow!("empty"))?;
    let ode = solve(
        &m_closed,
        OdeKind::General(hdgan_model::HForm::Corrected),
        &mean0.states[0],
        &times,
        &OdeOptions::default(),
    )?;
    let names = MacroState::column_names(1);
    let stat = |pred: &dyn Fn(usize) -> Vec<f64>| -> (f64, String) {
        let mut worst = (0.0f64, String::new());
        for (ti, &t) in times.iter().enumerate().skip(1) {
            let p = pred(ti);
            for e in 0..p.len() {
                let xs: Vec<f64> = sims.iter().map(|s| s.states[ti].pack()[e]).collect();
                // Tolerance: 5 SE of the seed mean, plus the particle solver's own error
                // (Monte Carlo 3 / sqrt(N) and Euler-Maruyama O(dt), bounded by 0.01 here).
                let r =
                    (mean(&xs) - p[e]).abs() / (5.0 * se(&xs) + 3.0 / (count as f64).sqrt() + 0.01);
                if r > worst.0 {
                    worst = (r, format!("{} at t = {t}", names[e]));
                }
            }
        }
        worst
    };
    let (sp, wp) = stat(&|ti| particle_path[ti].pack());
    let (so, wo) = stat(&|ti| ode.states[ti].pack());
    let mut out = Outcome::from_verdicts(
        &[sp <= 1.0, so > 2.0],
        format!("particles {sp:.2} ({wp}); closed ODE {so:.1} ({wo})"),
        "particles <= 1 < 2 < closed ODE".into(),
    );
    out.details.push(format!(
        "d = 1, u^ = 1, lambda = {lam} (log-cosh), eta_T = eta_G = 2, elementwise L1 penalty l1 = {l1} on w (drift -tau l1 sign(w^)). \
         Simulation: literal step, n = {n}, {seeds} seeds, T = {t_end}. Particles: {count} interacting particles whose coefficients \
         (g, g~, h, L, b) come from their own moments, Euler-Maruyama dt = {dt}. Statistic: max over t and entries of |sim mean - \
         prediction| / (5 SE + 3/sqrt(N) + 0.01). The ODE with the penalty dropped is the best closed description (its moments \
         cannot express E|w^|); it must fail the same test by a factor 2.\n"
    ));
    out.details.push(
        "| t | entry | simulation mean (SE) | particles | closed ODE |\n|---|---|---|---|---|"
            .into(),
    );
    for ti in (2..times.len()).step_by(4) {
        for (e, nm) in names.iter().enumerate() {
            let xs: Vec<f64> = sims.iter().map(|s| s.states[ti].pack()[e]).collect();
            out.details.push(format!(
                "| {} | {nm} | {:.4} ({:.4}) | {:.4} | {:.4} |",
                times[ti],
                mean(&xs),
                se(&xs),
                particle_path[ti].pack()[e],
                ode.states[ti].pack()[e]
            ));
        }
    }
    let pts = |f: &dyn Fn(usize) -> f64| -> Vec<(f64, f64)> {
        times.iter().enumerate().map(|(i, &t)| (t, f(i))).collect()
    };
    let mean_path = hdgan_core::Trajectory::mean(&sims).ok_or_else(|| anyhow::anyhow!("empty"))?;
    let mut series = Vec::new();
    for (k, (lbl, idx)) in [("z = |w|^2", 4usize), ("q", 1), ("P", 0)]
        .into_iter()
        .enumerate()
    {
        series.push(Series {
            label: format!("{lbl}: simulation mean"),
            color: PALETTE[k],
            style: Style::Dots,
            points: pts(&|i| mean_path.states[i].pack()[idx]),
        });
        series.push(Series {
            label: format!("{lbl}: particles"),
            color: PALETTE[k],
            style: Style::Line,
            points: pts(&|i| particle_path[i].pack()[idx]),
        });
        series.push(Series {
            label: format!("{lbl}: ODE without the penalty"),
            color: PALETTE[k],
            style: Style::Dashed,
            points: pts(&|i| ode.states[i].pack()[idx]),
        });
    }
    out.plots.push(ctx.plot(
        "nonclosed_regulariser",
        &Figure {
            title: format!(
                "L1 penalty l1 = {l1}: simulation vs mean-field particles vs closed ODE"
            ),
            x_label: "t".into(),
            y_label: "value".into(),
            series,
            ..Figure::default()
        },
    )?);
    Ok(out)
}
