//! Checks of the engines (THEORY §7): the Gram engine and the fast step have the law of the
//! literal simulation, and Theorem 1's rate 1/sqrt(n) measured with the Gram engine.

use super::{Check, Ctx, Outcome};
use crate::stats::{linear_fit, mean};
use anyhow::Result;
use hdgan_core::Trajectory;
use hdgan_core::stats::{LawComparison, compare_ensembles};
use hdgan_macro_ode::{OdeKind, OdeOptions, solve};
use hdgan_micro_sim::DEFAULT_BLOWUP;
use hdgan_micro_sim::{
    GramEngine, GramVariant, InitConfig, InitState, RunControl, Schedule, StepMode, full_ensemble,
    gram_ensemble, run_ensemble,
};
use hdgan_model::{LambdaValue, LatentConfig, Model, ModelConfig};
use hdgan_report::plot::{Figure, PALETTE, Series, Style};

pub(super) fn checks() -> Vec<Check> {
    vec![
        Check {
            name: "gram_equals_full_in_law",
            claim: "The Gram engine samples the law of the full simulation's macroscopic chain: for d = 1 and d = 2 at small n, the distributions of P, q, r, S, z agree at several times (means, spreads, two-sample KS), while deliberately wrong variants are told apart.",
            run: gram_equals_full,
        },
        Check {
            name: "fast_equals_literal_in_law",
            claim: "The fast step (one n-vector of normals, tracked Gram matrix) has the law of eq. 5 stepped literally (three samples).",
            run: fast_equals_literal,
        },
        Check {
            name: "theorem1_rate",
            claim: "Theorem 1's rate: E max_t ||M_k - M(k/n)|| decays like n^(-1/2) from n = 1e2 to 1e6 (Gram engine), slope within [-0.6, -0.4].",
            run: theorem1_rate,
        },
    ]
}

/// The two settings compared: d = 1 with finite lambda and eta_T != eta_G, and Figure 1
/// (d = 2, projected), at dimension n.
fn settings(n: usize) -> Result<Vec<(&'static str, Model, InitState)>> {
    let mut c1 = ModelConfig::figure1(n, 1.0);
    c1.d = 1;
    c1.latent = LatentConfig::diagonal(&[5.0]);
    c1.lambda = LambdaValue::Number(2.0);
    c1.eta_t = 1.5;
    c1.eta_g = 0.5;
    let m1 = c1.validate("model")?;
    let i1 = InitConfig::diagonal(1, 0.3, 0.3).validate("init", &m1)?;
    let m2 = ModelConfig::figure1(n, 2.0).validate("model")?;
    let i2 = InitConfig::diagonal(2, 0.3, 0.3).validate("init", &m2)?;
    Ok(vec![
        ("d = 1, lambda = 2, eta_T = 1.5, eta_G = 0.5", m1, i1),
        ("d = 2, Figure 1 (projected)", m2, i2),
    ])
}

const T_END: f64 = 6.0;

fn ensemble_full(
    m: &Model,
    init: &InitState,
    mode: StepMode,
    seeds: usize,
    seed: u64,
) -> Result<Vec<Trajectory>> {
    let schedule = Schedule::from_times(m.n(), T_END, 2.0)?;
    Ok(full_ensemble(m, init, mode, seeds, seed, &schedule)?)
}

fn ensemble_gram(
    m: &Model,
    init: &InitState,
    variant: GramVariant,
    seeds: usize,
    seed: u64,
) -> Result<Vec<Trajectory>> {
    let schedule = Schedule::from_times(m.n(), T_END, 2.0)?;
    Ok(gram_ensemble(
        m,
        &init.macro_state(),
        variant,
        seeds,
        seed,
        &schedule,
    )?)
}

/// Family-wise false-alarm rate of each comparison.
const ALPHA: f64 = 0.01;

fn describe(c: &LawComparison) -> String {
    format!(
        "max |z| means {:.2} ({}), spread {:.2} ({}); min KS p {:.1e} ({}); {} tests",
        c.z_mean.0, c.z_mean.1, c.z_sd.0, c.z_sd.1, c.ks_p.0, c.ks_p.1, c.tests
    )
}

fn tolerance_text() -> String {
    format!(
        "Bonferroni at family-wise {ALPHA}: with k tests (time x varying entry) each of the 3k statistics must have |z| below the \
         two-sided normal quantile of {ALPHA}/(3k) and KS p above {ALPHA}/(3k). Spreads are compared by Brown-Forsythe (means of \
         absolute deviations from the median), which does not assume normal data."
    )
}

fn gram_equals_full(ctx: &Ctx) -> Result<Outcome> {
    let n = 400;
    let seeds = ctx.pick(600, 2000);
    let mut verdicts = Vec::new();
    let mut measured = Vec::new();
    let mut details = vec![format!(
        "n = {n}, {seeds} seeds per engine, states at t = 2, 4, 6 from P0 = 0.3 I, q0 = 0.3; reference: the full simulation stepped \
         literally (eq. 5). {}\n",
        tolerance_text()
    )];
    for (k, (label, m, init)) in settings(n)?.into_iter().enumerate() {
        let reference = ensemble_full(&m, &init, StepMode::Literal, seeds, 100 + k as u64)?;
        let exact = compare_ensembles(
            &ensemble_gram(&m, &init, GramVariant::Exact, seeds, 200 + k as u64)?,
            &reference,
        );
        let chi = compare_ensembles(
            &ensemble_gram(&m, &init, GramVariant::WrongChiDof, seeds, 300 + k as u64)?,
            &reference,
        );
        let perp = compare_ensembles(
            &ensemble_gram(
                &m,
                &init,
                GramVariant::NoPerpendicularNoise,
                seeds,
                400 + k as u64,
            )?,
            &reference,
        );
        verdicts.extend([
            exact.same_law(ALPHA),
            !chi.same_law(ALPHA),
            !perp.same_law(ALPHA),
        ]);
        measured.push(format!(
            "{label}: exact {} / wrong chi {} / no perp. noise {}",
            if exact.same_law(ALPHA) {
                "same"
            } else {
                "DIFFERS"
            },
            if chi.same_law(ALPHA) {
                "NOT DETECTED"
            } else {
                "detected"
            },
            if perp.same_law(ALPHA) {
                "NOT DETECTED"
            } else {
                "detected"
            }
        ));
        details.push(format!("- {label}\n  - Gram engine vs full: {}\n  - chi dof / 4 (must differ): {}\n  - perpendicular noise dropped (must differ): {}", describe(&exact), describe(&chi), describe(&perp)));
    }
    let mut out = Outcome::from_verdicts(
        &verdicts,
        measured.join("; "),
        format!("exact: same law at family-wise {ALPHA}; variants: differ"),
    );
    out.details = details;
    Ok(out)
}

fn fast_equals_literal(ctx: &Ctx) -> Result<Outcome> {
    let n = 400;
    let seeds = ctx.pick(600, 2000);
    let mut verdicts = Vec::new();
    let mut measured = Vec::new();
    let mut details = vec![format!(
        "n = {n}, {seeds} seeds per mode, t = 2, 4, 6. {}\n",
        tolerance_text()
    )];
    for (k, (label, m, init)) in settings(n)?.into_iter().enumerate() {
        let lit = ensemble_full(&m, &init, StepMode::Literal, seeds, 500 + k as u64)?;
        let fast = ensemble_full(&m, &init, StepMode::Fast, seeds, 600 + k as u64)?;
        let c = compare_ensembles(&fast, &lit);
        verdicts.push(c.same_law(ALPHA));
        measured.push(format!(
            "{label}: {}",
            if c.same_law(ALPHA) { "same" } else { "DIFFERS" }
        ));
        details.push(format!("- {label}: {}", describe(&c)));
    }
    let mut out = Outcome::from_verdicts(
        &verdicts,
        measured.join("; "),
        format!("same law at family-wise {ALPHA}"),
    );
    out.details = details;
    Ok(out)
}

fn theorem1_rate(ctx: &Ctx) -> Result<Outcome> {
    let ns: Vec<usize> = ctx.pick(
        vec![100, 1_000, 10_000, 100_000],
        vec![100, 1_000, 10_000, 100_000, 1_000_000],
    );
    let seeds = ctx.pick(8, 16);
    let t_end = 40.0;
    // Figure 2's model: one feature, projected, learned from P0 = q0 = 0.1 within t = 40.
    let mut c = ModelConfig::figure1(100, 2.0);
    c.d = 1;
    c.latent = LatentConfig::diagonal(&[5.0]);
    let mut rows =
        vec!["| n | E max_t ||M - M_ode|| (SE) | sqrt(n) x mean |\n|---|---|---|".to_owned()];
    let mut means = Vec::new();
    let mut series = Vec::new();
    for (k, &n) in ns.iter().enumerate() {
        c.n = n;
        let m = c.validate("model")?;
        let init = InitConfig::diagonal(1, 0.1, 0.1).validate("init", &m)?;
        let schedule = Schedule::from_times(n, t_end, 0.5)?;
        let runs = run_ensemble(
            seeds,
            900 + k as u64,
            |_, _| {
                Ok(GramEngine::from_macro(
                    &m,
                    &init.macro_state(),
                    DEFAULT_BLOWUP,
                ))
            },
            &schedule,
            RunControl::default(),
        )?;
        let ode = solve(
            &m,
            OdeKind::Reduced,
            &init.macro_state(),
            &runs[0].times,
            &OdeOptions::default(),
        )?;
        let (dev, dev_se) = super::losses::deviation(&runs, &ode);
        rows.push(format!(
            "| {n} | {dev:.4e} ({dev_se:.1e}) | {:.3} |",
            dev * (n as f64).sqrt()
        ));
        means.push(dev);
        if k == 0 || k + 1 == ns.len() {
            series.push(Series {
                label: format!("||M - M_ode||, n = {n}, first seed"),
                color: PALETTE[k % PALETTE.len()],
                style: Style::Line,
                points: runs[0]
                    .times
                    .iter()
                    .copied()
                    .zip(
                        runs[0]
                            .states
                            .iter()
                            .zip(&ode.states)
                            .map(|(a, b)| a.gram_distance(b).max(1e-12).log10()),
                    )
                    .collect(),
            });
        }
    }
    let lx: Vec<f64> = ns.iter().map(|&n| (n as f64).log10()).collect();
    let ly: Vec<f64> = means.iter().map(|m| m.log10()).collect();
    let (a, slope, slope_se) = linear_fit(&lx, &ly);
    let mut out = Outcome::from_verdicts(
        &[(-0.6..=-0.4).contains(&slope)],
        format!(
            "slope {slope:.3} +- {:.3} (95% CI from the fit)",
            1.96 * slope_se
        ),
        "slope in [-0.6, -0.4]".into(),
    );
    out.details.push(format!(
        "Gram engine, d = 1, Lam = Lam~ = 5, tau = 0.2, tau~ = 0.04, eta = 2, projected, P0 = q0 = 0.1, T = {t_end}, {seeds} seeds per n; \
         the statistic is Theorem 1's: the Frobenius norm of the whole Gram matrix difference, max over the recorded times (every \
         0.5), averaged over seeds. Fit: log10 E = {a:.3} + slope log10 n.\n"
    ));
    out.details.extend(rows);
    out.plots.push(ctx.plot(
        "theorem1_rate",
        &Figure {
            title: "Theorem 1 rate: E max_t ||M_k - M(k/n)|| against n".into(),
            x_label: "log10 n".into(),
            y_label: "log10 E max_t ||M - M_ode||".into(),
            series: vec![
                Series {
                    label: "measured (seed mean)".into(),
                    color: PALETTE[0],
                    style: Style::Dots,
                    points: lx.iter().copied().zip(ly.iter().copied()).collect(),
                },
                Series {
                    label: format!("fit, slope {slope:.3}"),
                    color: PALETTE[1],
                    style: Style::Line,
                    points: lx.iter().map(|&x| (x, a + slope * x)).collect(),
                },
                Series {
                    label: "slope -1/2 through the fit's centre".into(),
                    color: PALETTE[2],
                    style: Style::Dashed,
                    points: {
                        let (mx, my) = (mean(&lx), mean(&ly));
                        lx.iter().map(|&x| (x, my - 0.5 * (x - mx))).collect()
                    },
                },
            ],
            ..Figure::default()
        },
    )?);
    out.plots.push(ctx.plot(
        "theorem1_rate_paths",
        &Figure {
            title: "log10 ||M_k - M(k/n)|| along the path".into(),
            x_label: "t".into(),
            y_label: "log10 deviation".into(),
            series,
            ..Figure::default()
        },
    )?);
    Ok(out)
}
