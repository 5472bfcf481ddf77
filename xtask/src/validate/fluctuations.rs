//! Checks of the finite-size theory (THEORY §10): the linear-noise approximation's
//! variances against Gram-engine ensembles, and the coverage of its band.

use super::{Check, Ctx, Outcome};
use crate::stats::{mean, se};
use anyhow::Result;
use hdgan_core::{MacroState, Trajectory};
use hdgan_micro_sim::{GramVariant, InitConfig, Schedule, gram_ensemble};
use hdgan_model::Model;
use hdgan_report::plot::{Figure, PALETTE, Series, Style};
use hdgan_stability::{
    Fluctuations, LNA_OPTIONS, NoiseForm, fluctuations, fluctuations_with, switch_time,
};

pub(super) fn checks() -> Vec<Check> {
    vec![
        Check {
            name: "lna_variance",
            claim: "The ensemble variance of each macroscopic coordinate times n converges to the linear-noise covariance Sigma_ii(t) (dSigma/dt = J Sigma + Sigma J^T + D, THEORY §10) on Figure 1 before the saddle: within the sampling error of a variance at the largest n, while the D without the Ito term is rejected.",
            run: lna_variance,
        },
        Check {
            name: "lna_band_coverage",
            claim: "On Figure 1 at n = 5000 the band ODE +- 2 sqrt(Sigma_ii / n) holds 95.45% of the simulated cosines outside the saddle window (the theory's Gaussian coverage), within the sampling error of the runs.",
            run: lna_band_coverage,
        },
    ]
}

/// Figure 1's model at size n (eta = 2, success) and its start.
fn fig1(n: usize) -> Result<(Model, MacroState)> {
    let m = super::foundation::fig1_model(n, 2.0)?;
    let start = InitConfig::diagonal(2, 0.1, 0.1)
        .validate("init", &m)?
        .macro_state();
    Ok((m, start))
}

/// The free coordinates of the projected chain (z and S_jj are fixed), as flat-layout
/// indices with their names.
fn free_coords() -> Vec<(usize, String)> {
    let names = MacroState::column_names(2);
    [0, 1, 2, 3, 4, 5, 6, 7, 9]
        .iter()
        .map(|&i| (i, names[i].clone()))
        .collect()
}

/// Sample variance of `xs` and its standard error `sqrt((m4 - s^4) / K)` (central fourth
/// moment; no Gaussian assumption).
fn variance_with_se(xs: &[f64]) -> (f64, f64) {
    let k = xs.len() as f64;
    let mu = xs.iter().sum::<f64>() / k;
    let v = xs.iter().map(|x| (x - mu).powi(2)).sum::<f64>() / (k - 1.0);
    let m4 = xs.iter().map(|x| (x - mu).powi(4)).sum::<f64>() / k;
    (v, ((m4 - v * v).max(0.0) / k).sqrt())
}

/// Per (time, coordinate): `n Var`, its SE, and Sigma's value.
struct VarRow {
    t: f64,
    name: String,
    nvar: f64,
    se: f64,
    sigma: f64,
    wrong: f64,
}

fn lna_variance(ctx: &Ctx) -> Result<Outcome> {
    let ns: Vec<usize> = ctx.pick(vec![1_000, 10_000], vec![1_000, 10_000, 100_000]);
    let seeds = 400;
    let (t_end, dt) = (30.0, 5.0);
    let (m0, start) = fig1(ns[0])?;
    let times: Vec<f64> = (0..=6).map(|k| k as f64 * dt).collect();
    let fl = fluctuations(&m0, &start, &times, &LNA_OPTIONS)?;
    let wrong = fluctuations_with(&m0, &start, &times, &LNA_OPTIONS, NoiseForm::WithoutIto)?;
    let coords = free_coords();
    let mut per_n: Vec<(usize, Vec<VarRow>)> = Vec::new();
    for (idx, &n) in ns.iter().enumerate() {
        let (m, _) = fig1(n)?;
        let schedule = Schedule::from_times(n, t_end, dt)?;
        let runs = gram_ensemble(
            &m,
            &start,
            GramVariant::Exact,
            seeds,
            7100 + idx as u64,
            &schedule,
        )?;
        let mut rows = Vec::new();
        for (k, &t) in times.iter().enumerate().skip(1) {
            for (i, name) in &coords {
                let xs: Vec<f64> = runs.iter().map(|r| r.states[k].pack()[*i]).collect();
                let (v, s) = variance_with_se(&xs);
                rows.push(VarRow {
                    t,
                    name: name.clone(),
                    nvar: v * n as f64,
                    se: s * n as f64,
                    sigma: fl.cov[k][(*i, *i)],
                    wrong: wrong.cov[k][(*i, *i)],
                });
            }
        }
        per_n.push((n, rows));
    }
    let z = |r: &VarRow, target: f64| (r.nvar - target) / r.se;
    let max_z = |rows: &[VarRow], wrong: bool| {
        rows.iter()
            .map(|r| z(r, if wrong { r.wrong } else { r.sigma }).abs())
            .fold(0.0, f64::max)
    };
    let rel = |rows: &[VarRow]| -> Vec<f64> {
        rows.iter()
            .map(|r| (r.nvar / r.sigma - 1.0).abs())
            .collect()
    };
    let chi2 = |rows: &[VarRow]| {
        mean(
            &rows
                .iter()
                .map(|r| z(r, r.sigma).powi(2))
                .collect::<Vec<_>>(),
        )
    };
    let (_, largest) = per_n.last().expect("at least one n");
    let (_, smallest) = &per_n[0];
    let z_max = max_z(largest, false);
    let z_wrong = max_z(largest, true);
    let (rel_small, rel_large) = (mean(&rel(smallest)), mean(&rel(largest)));
    // Every (time, coordinate) within 4.5 SE (about 54 tests: family-wise false alarms
    // near 4e-4); the wrong D beyond it somewhere.
    let verdicts = [z_max <= 4.5, z_wrong > 4.5];
    let mut out = Outcome::from_verdicts(
        &verdicts,
        format!(
            "n = {}: max |n Var - Sigma| / SE {z_max:.2}; without the Ito term {z_wrong:.1}; mean |n Var / Sigma - 1| {rel_small:.3} (n = {}) -> {rel_large:.3}",
            ns[ns.len() - 1],
            ns[0]
        ),
        "max |z| <= 4.5 at the largest n; the wrong D's max |z| > 4.5".into(),
    );
    out.details.push(format!(
        "Figure 1 (eta = 2), Gram engine, {seeds} seeds per n, times {:?}; the 9 free coordinates \
         of the projected chain (z and S_jj are fixed). SE of a variance from the sample fourth moment. \
         Sigma from `fluctuations` at `LNA_OPTIONS`. The window ends before the saddle between the \
         two learning stages (the switch is near t = 48), where the linearisation fails \
         (`escape` in THEORY §10).\n",
        &times[1..]
    ));
    out.details.push(
        "| n | max z | mean z^2 | max z, no Ito term | mean abs relative error |\n|---|---|---|---|---|"
            .into(),
    );
    for (n, rows) in &per_n {
        out.details.push(format!(
            "| {n} | {:.2} | {:.2} | {:.1} | {:.3} (SE {:.3}) |",
            max_z(rows, false),
            chi2(rows),
            max_z(rows, true),
            mean(&rel(rows)),
            se(&rel(rows))
        ));
    }
    for (n, rows) in &per_n {
        out.details.push(format!(
        "\nAt n = {}, per time and coordinate (n Var +- SE against Sigma):\n\n| t | coordinate | n Var | SE | Sigma | z | Sigma without Ito |\n|---|---|---|---|---|---|---|",
        n
    ));
        for r in rows {
            out.details.push(format!(
                "| {} | {} | {:.4} | {:.4} | {:.4} | {:+.2} | {:.4} |",
                r.t,
                r.name,
                r.nvar,
                r.se,
                r.sigma,
                z(r, r.sigma),
                r.wrong
            ));
        }
    }
    // The picture: Sigma_ii(t) on a fine grid against n Var at each n.
    let fine: Vec<f64> = (0..=60).map(|k| k as f64 * 0.5).collect();
    let dense = fluctuations(&m0, &start, &fine, &LNA_OPTIONS)?;
    let shown = ["P11", "q1", "q2", "r1"];
    let mut series = Vec::new();
    for (c, name) in shown.iter().enumerate() {
        let i = coords.iter().find(|(_, nm)| nm == name).map(|(i, _)| *i);
        let Some(i) = i else { continue };
        series.push(Series {
            label: format!("Sigma {name}"),
            color: PALETTE[c],
            style: Style::Line,
            points: fine
                .iter()
                .zip(&dense.cov)
                .map(|(t, s)| (*t, s[(i, i)]))
                .collect(),
        });
        for (k, (n, rows)) in per_n.iter().enumerate() {
            series.push(Series {
                label: format!("n Var {name}, n = {n}"),
                color: PALETTE[c],
                style: if k + 1 == per_n.len() {
                    Style::Dots
                } else {
                    Style::Crosses
                },
                points: rows
                    .iter()
                    .filter(|r| r.name == *name)
                    .map(|r| (r.t, r.nvar))
                    .collect(),
            });
        }
    }
    out.plots.push(ctx.plot(
        "lna_variance",
        &Figure {
            title: "Figure 1: n x ensemble variance against the LNA's Sigma".into(),
            x_label: "t".into(),
            y_label: "n Var, Sigma".into(),
            x_range: None,
            y_range: None,
            series,
        },
    )?);
    Ok(out)
}

/// The quantities Figure 1 plots (the cosines; with lambda = inf, S_jj = z = 1 so they are
/// the overlaps themselves), as flat-layout indices.
fn plotted() -> Vec<(usize, &'static str)> {
    vec![
        (0, "P11"),
        (1, "P12"),
        (2, "P21"),
        (3, "P22"),
        (4, "q1"),
        (5, "q2"),
    ]
}

/// Per run, the fraction of its points (recorded times where `mask` holds, flat-layout
/// entries `curves`) within `2 sqrt(Sigma_ii / n)` of the ODE.
fn coverage(
    runs: &[Trajectory],
    fl: &Fluctuations,
    n: usize,
    mask: &[bool],
    curves: &[usize],
) -> Vec<f64> {
    let sd = fl.sd(n);
    runs.iter()
        .map(|r| {
            let (mut hit, mut all) = (0usize, 0usize);
            for (k, s) in r.states.iter().enumerate() {
                if !mask[k] {
                    continue;
                }
                let x = s.pack();
                let o = fl.mean.states[k].pack();
                for &i in curves {
                    if sd[k][i] == 0.0 {
                        continue;
                    }
                    all += 1;
                    if (x[i] - o[i]).abs() <= 2.0 * sd[k][i] {
                        hit += 1;
                    }
                }
            }
            hit as f64 / all.max(1) as f64
        })
        .collect()
}

fn lna_band_coverage(ctx: &Ctx) -> Result<Outcome> {
    let n = 5000;
    let seeds = ctx.pick(100, 400);
    let t_end = 200.0;
    let (m, start) = fig1(n)?;
    let times: Vec<f64> = (0..=200).map(f64::from).collect();
    let fl = fluctuations(&m, &start, &times, &LNA_OPTIONS)?;
    let switch =
        switch_time(&fl.mean).ok_or_else(|| anyhow::anyhow!("the ODE never switches features"))?;
    // The saddle window: from 10 time units before the ODE's switch (where the unstable
    // direction's spread is no longer small at this n) to the end. See the details for why
    // it does not close again.
    let window = (switch - 10.0, t_end);
    let inside: Vec<bool> = times.iter().map(|&t| t <= window.0).collect();
    let after: Vec<bool> = times.iter().map(|&t| t >= 150.0).collect();
    let schedule = Schedule::from_times(n, t_end, 1.0)?;
    let runs = gram_ensemble(&m, &start, GramVariant::Exact, seeds, 7300, &schedule)?;
    let all: Vec<usize> = plotted().iter().map(|(i, _)| *i).collect();
    let cov = coverage(&runs, &fl, n, &inside, &all);
    let cov_after = coverage(&runs, &fl, n, &after, &all);
    let target = 0.9545;
    let (c, c_se) = (mean(&cov), se(&cov));
    let zc = (c - target) / c_se;
    let verdicts = [zc.abs() <= 3.0];
    let mut out = Outcome::from_verdicts(
        &verdicts,
        format!(
            "coverage {c:.4} +- {c_se:.4} on [0, {:.1}] (z = {zc:+.2}); after the saddle (t >= 150) {:.3}",
            window.0,
            mean(&cov_after)
        ),
        "|coverage - 0.9545| <= 3 SE (SE from the per-run fractions)".into(),
    );
    out.details.push(format!(
        "Figure 1 (eta = 2), n = {n}, {seeds} Gram-engine runs, recorded every time unit; the six \
         plotted cosines (P_ij, q_i; S_jj = z = 1). A point counts as inside when it is within \
         2 sqrt(Sigma_ii / n) of the ODE. The per-run fractions are \
         the sampling units (points of one run are correlated in time). The ODE switches \
         features at t = {switch:.1}; the window is [{:.1}, {:.0}].\n\n\
         Why the window does not close: through the saddle the linearisation fails (the \
         spread of the unstable direction reaches O(1)), and what Sigma carries out of it is \
         not the runs' spread: at t >= 150 the band holds {:.3} of the points, and for the slow \
         P11 (relaxation rate of order tau~) it is several times too wide even at t = 200 \
         (`lna_variance`'s details and the sweeps issue's note). The passage itself is the \
         escape-time law's business.\n",
        window.0,
        window.1,
        mean(&cov_after)
    ));
    // Per-curve coverage inside the window.
    out.details.push(
        "| curve | coverage before the window | coverage at t >= 150 |\n|---|---|---|".into(),
    );
    for (i, name) in plotted() {
        // Every run has as many points, so the mean of the fractions is the pooled one.
        let frac = |mask: &[bool]| mean(&coverage(&runs, &fl, n, mask, &[i]));
        out.details.push(format!(
            "| {name} | {:.4} | {:.4} |",
            frac(&inside),
            frac(&after)
        ));
    }
    let sd = fl.sd(n);
    // The picture: the band with a few runs.
    let mut series = Vec::new();
    for (c, (i, name)) in [(0usize, "P11"), (3, "P22"), (4, "q1"), (5, "q2")]
        .iter()
        .enumerate()
    {
        let band = |sign: f64| -> Vec<(f64, f64)> {
            times
                .iter()
                .enumerate()
                .map(|(k, t)| (*t, fl.mean.states[k].pack()[*i] + sign * 2.0 * sd[k][*i]))
                .collect()
        };
        series.push(Series {
            label: format!("{name} ODE +- 2 sd"),
            color: PALETTE[c],
            style: Style::Dashed,
            points: band(1.0),
        });
        series.push(Series {
            label: String::new(),
            color: PALETTE[c],
            style: Style::Dashed,
            points: band(-1.0),
        });
        for r in runs.iter().take(3) {
            series.push(Series {
                label: String::new(),
                color: PALETTE[c],
                style: Style::Line,
                points: r.points(|s| s.pack()[*i]),
            });
        }
    }
    out.plots.push(ctx.plot(
        "lna_band_coverage",
        &Figure {
            title: format!("Figure 1 at n = {n}: three runs in the LNA band"),
            x_label: "t".into(),
            y_label: "overlap".into(),
            x_range: None,
            y_range: Some((-1.2, 1.2)),
            series,
        },
    )?);
    Ok(out)
}
