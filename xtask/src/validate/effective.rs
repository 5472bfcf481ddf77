//! Checks of the effective-covariance extension (THEORY §8): structured latents act only
//! through their effective second moment, the mode-wise solvable interval, and signal
//! boosting.

use super::{Check, Ctx, Outcome};
use crate::stats::{linear_fit, mean, se};
use anyhow::Result;
use hdgan_core::{DMat, MacroState, Trajectory};
use hdgan_macro_ode::{OdeKind, OdeOptions, solve};
use hdgan_micro_sim::{GramVariant, Schedule, gram_ensemble};
use hdgan_model::{ClassConfig, FromData, LatentConfig, Model, ModelConfig};
use hdgan_report::figures::cosine_figure;
use hdgan_report::plot::{Figure, PALETTE, Series, Style};
use hdgan_stability::{
    EffectiveModes, Phase, PhaseRule, classify, classify_ode_viewed, effective_modes, eigenvalues,
    in_mode_basis, reduced_jacobian,
};

pub(super) fn checks() -> Vec<Check> {
    vec![
        Check {
            name: "effective_moment_invariance",
            claim: "Latents with the same effective second moment M (Gaussian; two classes with opposite means; three correlated classes with non-zero means) give the same ODE path, and each simulation approaches it at rate n^(-1/2); a Gaussian with the mixture's covariance in place of M (the covariance-for-second-moment mistake) does not.",
            run: effective_moment_invariance,
        },
        Check {
            name: "solvable_interval",
            claim: "With a rotated (non-diagonal) M and the informed generator, the modes the ODE learns are exactly those with lam_l > tau eta^2 (learning starts when the leading effective eigenvalue crosses tau eta^2), and a mode above the upper end 2 tau eta^2 + (1 - alpha) lam~_l has an unstable mode-aligned resting state and keeps the ODE from settling there.",
            run: solvable_interval,
        },
        Check {
            name: "signal_boosting",
            claim: "A weak mode below tau eta^2 is not learned; a low-rank correlation rho v v^T lifts it into the solvable interval and it is learned; too strong a correlation pushes the top mode past the upper end and the mode-aligned recovery breaks (ODE and simulation agree on all three).",
            run: signal_boosting,
        },
    ]
}

fn latent(cov: &DMat) -> LatentConfig {
    LatentConfig {
        cov: cov.to_rows(),
        mean: None,
        classes: Vec::new(),
        from_data: None,
    }
}

fn informed() -> LatentConfig {
    LatentConfig {
        cov: Vec::new(),
        mean: None,
        classes: Vec::new(),
        from_data: Some(FromData::Informed),
    }
}

fn class(prob: f64, mean: &[f64], cov: &[[f64; 2]; 2]) -> ClassConfig {
    ClassConfig {
        prob,
        mean: Some(mean.to_vec()),
        cov: cov.iter().map(|r| r.to_vec()).collect(),
    }
}

/// Figure 1's rates (tau = 0.2, tau~ = 0.04, projected) with the given latent law.
fn fig1_with(
    n: usize,
    eta: f64,
    lat: LatentConfig,
    lat_tilde: Option<LatentConfig>,
) -> Result<Model> {
    let mut c = ModelConfig::figure1(n, eta);
    c.latent = lat;
    c.latent_tilde = lat_tilde;
    Ok(c.validate("model")?)
}

/// Gram-engine ensemble of `members` from `init`, recorded every `dt` to `t_end`.
fn gram_runs(
    m: &Model,
    init: &MacroState,
    t_end: f64,
    dt: f64,
    members: usize,
    seed: u64,
) -> Result<Vec<Trajectory>> {
    let schedule = Schedule::from_times(m.n(), t_end, dt)?;
    Ok(gram_ensemble(
        m,
        init,
        GramVariant::Exact,
        members,
        seed,
        &schedule,
    )?)
}

/// The three latent laws with `M = diag(5, 3)` and the wrong control.
fn invariance_latents() -> Vec<(&'static str, LatentConfig, bool)> {
    let gauss = LatentConfig::diagonal(&[5.0, 3.0]);
    let two = LatentConfig {
        cov: Vec::new(),
        mean: None,
        classes: vec![
            class(0.5, &[1.5, 0.0], &[[2.75, 0.0], [0.0, 3.0]]),
            class(0.5, &[-1.5, 0.0], &[[2.75, 0.0], [0.0, 3.0]]),
        ],
        from_data: None,
    };
    // Means (1, 1), (-1, -1), (2, -1) with weights 0.4, 0.4, 0.2 and correlated class
    // covariances chosen so that sum_k pi_k (Sigma_k + mu_k mu_k^T) = diag(5, 3):
    // sum pi mu mu^T = 0.8 [[1, 1], [1, 1]] + 0.2 [[4, -2], [-2, 1]] = [[1.6, 0.4], [0.4, 1]],
    // so sum pi Sigma = [[3.4, -0.4], [-0.4, 2]].
    let three = LatentConfig {
        cov: Vec::new(),
        mean: None,
        classes: vec![
            class(0.4, &[1.0, 1.0], &[[3.9, -0.7], [-0.7, 1.5]]),
            class(0.4, &[-1.0, -1.0], &[[2.9, -0.1], [-0.1, 2.5]]),
            class(0.2, &[2.0, -1.0], &[[3.4, -0.4], [-0.4, 2.0]]),
        ],
        from_data: None,
    };
    let wrong = LatentConfig::diagonal(&[2.75, 3.0]);
    vec![
        ("Gaussian, cov diag(5, 3)", gauss, true),
        ("2 classes, means +-(1.5, 0), cov diag(2.75, 3)", two, true),
        ("3 correlated classes, non-zero means", three, true),
        (
            "control: Gaussian with the 2-class covariance diag(2.75, 3)",
            wrong,
            false,
        ),
    ]
}

fn effective_moment_invariance(ctx: &Ctx) -> Result<Outcome> {
    let ns: Vec<usize> = ctx.pick(
        vec![1_000, 4_000, 16_000],
        vec![1_000, 4_000, 16_000, 64_000],
    );
    let members = ctx.pick(8, 16);
    // Figure 1's success setting up to t = 40: feature 1 is learned; the escape of q_2 from
    // ~0 that follows (t ~ 45-50) is seeded by O(1/sqrt n) noise and delays the
    // asymptotic rate beyond the n reachable here (see theorem1_fig1), so T stays before it.
    let t_end = 40.0;
    let init = MacroState::diagonal_start(2, 0.1, 0.1);
    let target = DMat::from_diag(&[5.0, 3.0]);
    let mut verdicts = Vec::new();
    let mut details = vec![format!(
        "Figure 1's rates (tau = 0.2, tau~ = 0.04, eta = 2, projected), P0 = 0.1 I, q0 = 0.1, T = {t_end}; Gram engine (exact law), \
         {members} seeds per n; statistic: max over recorded times (every 0.5) of the Frobenius norm of M_k - M(k/n), averaged over seeds. \
         Theorem 1 holds for each latent law separately (i.i.d. latents with bounded moments), so the deviation from the one ODE \
         must shrink like n^(-1/2) for every law with the same M: fitted slope within [-0.65, -0.35] (theorem1_rate measures -0.58 \
         at these n for d = 1). The control must not shrink (slope above -0.15) and must end at least 10 standard errors above the \
         Gaussian's deviation at the largest n.\n"
    )];
    let mut rows = vec!["| latent | M (computed) | ODE vs Gaussian's ODE | mean deviation per n | slope (95% CI) | verdict |\n|---|---|---|---|---|---|".to_owned()];
    let mut series = Vec::new();
    let mut gauss_last: Option<(f64, f64)> = None;
    let mut measured = Vec::new();
    let mut gauss_ode: Option<Trajectory> = None;
    for (k, (label, lat, correct)) in invariance_latents().into_iter().enumerate() {
        let mut means = Vec::new();
        let mut last = (0.0, 0.0);
        let mut ode_diff = 0.0;
        let mut m2 = DMat::zeros(2, 2);
        for (j, &n) in ns.iter().enumerate() {
            let m = fig1_with(n, 2.0, lat.clone(), None)?;
            m2 = m.latent().second_moment().matrix().clone();
            let runs = gram_runs(
                &m,
                &init,
                t_end,
                0.5,
                members,
                1200 + 10 * k as u64 + j as u64,
            )?;
            let ode = solve(
                &m,
                OdeKind::Reduced,
                &init,
                &runs[0].times,
                &OdeOptions::default(),
            )?;
            if j == 0 {
                match &gauss_ode {
                    None => gauss_ode = Some(ode.clone()),
                    Some(g) => {
                        ode_diff = g
                            .states
                            .iter()
                            .zip(&ode.states)
                            .map(|(a, b)| a.gram_distance(b))
                            .fold(0.0, f64::max)
                    }
                }
            }
            let devs: Vec<f64> = runs
                .iter()
                .map(|r| {
                    // Deviation from the ODE of M = diag(5, 3) (the Gaussian's), which is
                    // this law's ODE unless it is the control.
                    r.states
                        .iter()
                        .zip(&gauss_ode.as_ref().unwrap_or(&ode).states)
                        .map(|(a, b)| a.gram_distance(b))
                        .fold(0.0, f64::max)
                })
                .collect();
            means.push(mean(&devs));
            last = (mean(&devs), se(&devs));
        }
        let lx: Vec<f64> = ns.iter().map(|&n| (n as f64).log10()).collect();
        let ly: Vec<f64> = means.iter().map(|m| m.log10()).collect();
        let (a, slope, slope_se) = linear_fit(&lx, &ly);
        let ok = if correct {
            let ok = (-0.65..=-0.35).contains(&slope)
                && ode_diff < 1e-9
                && m2.max_abs_diff(&target) < 1e-12;
            if k == 0 {
                gauss_last = Some(last);
            }
            ok
        } else {
            let (g, g_se) = gauss_last.unwrap_or((0.0, 0.0));
            slope > -0.15 && last.0 - g > 10.0 * (last.1.powi(2) + g_se.powi(2)).sqrt()
        };
        verdicts.push(ok);
        measured.push(format!("{label}: slope {slope:.3}"));
        rows.push(format!(
            "| {label} | {:?} | {} | {} | {slope:.3} +- {:.3} | {} |",
            m2.to_rows()
                .iter()
                .map(|r| r
                    .iter()
                    .map(|x| (x * 1e12).round() / 1e12)
                    .collect::<Vec<_>>())
                .collect::<Vec<_>>(),
            if correct {
                format!("{ode_diff:.1e}")
            } else {
                "(different M)".into()
            },
            ns.iter()
                .zip(&means)
                .map(|(n, m)| format!("{n}: {m:.4}"))
                .collect::<Vec<_>>()
                .join(", "),
            1.96 * slope_se,
            if ok { "ok" } else { "FAIL" }
        ));
        series.push(Series {
            label: label.to_owned(),
            color: PALETTE[k % PALETTE.len()],
            style: Style::Dots,
            points: lx.iter().copied().zip(ly.iter().copied()).collect(),
        });
        series.push(Series {
            label: String::new(),
            color: PALETTE[k % PALETTE.len()],
            style: if correct { Style::Line } else { Style::Dashed },
            points: lx.iter().map(|&x| (x, a + slope * x)).collect(),
        });
    }
    details.extend(rows);
    let mut out = Outcome::from_verdicts(
        &verdicts,
        measured.join("; "),
        "same-M laws: slope in [-0.65, -0.35], ODE paths equal to 1e-9; control: slope > -0.15 and > 10 SE above".into(),
    );
    out.details = details;
    out.plots.push(
        ctx.plot(
            "effective_moment_invariance",
            &Figure {
                title:
                    "Same effective second moment, different latent laws: deviation from one ODE"
                        .into(),
                x_label: "log10 n".into(),
                y_label: "log10 E max_t ||M_k - M(k/n)||".into(),
                series,
                ..Figure::default()
            },
        )?,
    );
    Ok(out)
}

/// A rotation of R^3 by fixed angles (for a non-diagonal M).
fn rotation3() -> DMat {
    let (a, b, c) = (0.7_f64, -0.4_f64, 1.1_f64);
    let rx = DMat::from_row_major(
        3,
        3,
        vec![1.0, 0.0, 0.0, 0.0, a.cos(), -a.sin(), 0.0, a.sin(), a.cos()],
    );
    let ry = DMat::from_row_major(
        3,
        3,
        vec![b.cos(), 0.0, b.sin(), 0.0, 1.0, 0.0, -b.sin(), 0.0, b.cos()],
    );
    let rz = DMat::from_row_major(
        3,
        3,
        vec![c.cos(), -c.sin(), 0.0, c.sin(), c.cos(), 0.0, 0.0, 0.0, 1.0],
    );
    rz.matmul(&ry).matmul(&rx)
}

/// `R diag(lams) R^T`.
fn rotated(lams: &[f64]) -> DMat {
    let r = rotation3();
    r.matmul(&DMat::from_diag(lams)).matmul(&r.transpose())
}

/// The 3-mode model: `M = R diag(6, 3, 1.5) R^T`, informed generator, tau = 0.2,
/// tau~ = alpha tau, eta_T = eta_G with tau eta^2 = `te`.
fn interval_model(te: f64, alpha: f64) -> Result<Model> {
    let mut c = ModelConfig::figure1(1000, 1.0);
    c.d = 3;
    c.latent = latent(&rotated(&[6.0, 3.0, 1.5]));
    c.latent_tilde = Some(informed());
    c.tau_tilde = alpha * c.tau;
    let eta = (te / c.tau).sqrt();
    c.eta_t = eta;
    c.eta_g = eta;
    Ok(c.validate("model")?)
}

/// Modes the rule calls learned, from a summary's phase.
fn learned_set(p: &Phase, d: usize) -> Vec<usize> {
    match p {
        Phase::Success | Phase::Oscillation => (0..d).collect(),
        Phase::Failure => Vec::new(),
        Phase::ModeCollapse { learned, .. } => learned.clone(),
    }
}

/// The mode-aligned resting state of the reduced ODE with `P' = diag(p)` in the mode
/// bases (q = r = 0, S = I), mapped back to the original coordinates.
fn aligned_rest(modes: &EffectiveModes, p: &[f64]) -> MacroState {
    let d = p.len();
    let (e, g) = (modes.basis(), modes.generator_basis());
    let mut s = MacroState::zeros(d);
    s.p = e.transpose().matmul(&DMat::from_diag(p)).matmul(&g);
    s.s = DMat::identity(d);
    s.z = 1.0;
    s
}

fn solvable_interval(ctx: &Ctx) -> Result<Outcome> {
    let opts = OdeOptions {
        rtol: 1e-8,
        atol: 1e-10,
        ..OdeOptions::default()
    };
    let rule = PhaseRule::default();
    let lams = [6.0, 3.0, 1.5];
    let alpha = 0.05;
    // Lower end: tau eta^2 swept through the three eigenvalues with alpha small enough
    // that no upper end binds (2 tau eta^2 + 0.95 lam~ >= lam for every mode).
    let count = ctx.pick(24, 60);
    let margin = 0.15;
    let (lo, hi) = (0.3, 7.0);
    let mut agree = 0usize;
    let mut tested = 0usize;
    let mut bad = Vec::new();
    let mut pts = Vec::new();
    for i in 0..count {
        let te = lo + (hi - lo) * i as f64 / (count - 1) as f64;
        if lams.iter().any(|l| (l - te).abs() < margin * l) {
            continue;
        }
        let m = interval_model(te, alpha)?;
        let modes = effective_modes(&m);
        let predicted: Vec<usize> = (0..3).filter(|&l| modes.modes[l].lam > te).collect();
        let init = MacroState::diagonal_start(3, 0.1, 0.1);
        let view = |t: &Trajectory| in_mode_basis(t, &modes);
        let (s, _, settled) = classify_ode_viewed(
            &m,
            &init,
            400.0_f64.max(16.0 / m.tau_tilde()),
            40,
            &rule,
            &opts,
            &view,
        )
        .map_err(anyhow::Error::msg)?;
        let got = learned_set(&s.phase, 3);
        tested += 1;
        if got == predicted && settled && s.phase != Phase::Oscillation {
            agree += 1;
        } else {
            bad.push(format!(
                "tau eta^2 = {te:.3}: predicted modes {predicted:?}, ODE {} (settled {settled})",
                s.phase
            ));
        }
        pts.push((te, got.len() as f64, predicted.len() as f64));
    }
    // Upper end: at tau eta^2 = 1, alpha = 0.5 the intervals are (1, 2 + 0.5 lam~]: mode 1
    // (6) is too strong, modes 2, 3 are inside. Its mode-aligned resting state at the
    // corner of the box must be unstable, and the ODE must not end there.
    let m_up = interval_model(1.0, 0.5)?;
    let modes_up = effective_modes(&m_up);
    // Control: alpha = 0.05 puts every mode inside; its aligned rest must not be unstable.
    let m_in = interval_model(1.0, alpha)?;
    let modes_in = effective_modes(&m_in);
    // Resting states P' = diag(p_l) with p_l = 1 and p_l halfway between p*_l and 1 (inside
    // Claim 1's box, where a mode inside its interval is stable).
    let top_at = |m: &Model, modes: &EffectiveModes, top: bool| {
        let p: Vec<f64> = modes
            .modes
            .iter()
            .map(|md| {
                if top {
                    1.0
                } else {
                    0.5 * (1.0 + md.p_star.unwrap_or(1.0))
                }
            })
            .collect();
        let rest = aligned_rest(modes, &p);
        eigenvalues(&reduced_jacobian(m, &rest))
            .first()
            .map(|e| e.0)
            .unwrap_or(f64::NAN)
    };
    let top_eigs: Vec<f64> = [true, false]
        .iter()
        .map(|&t| top_at(&m_up, &modes_up, t))
        .collect();
    let control_eigs: Vec<f64> = [true, false]
        .iter()
        .map(|&t| top_at(&m_in, &modes_in, t))
        .collect();
    let control_ok = control_eigs.iter().all(|&e| e <= 1e-9);
    let upper_unstable = top_eigs.iter().all(|&e| e > 1e-6);
    let init = MacroState::diagonal_start(3, 0.1, 0.1);
    let view_up = |t: &Trajectory| in_mode_basis(t, &modes_up);
    let (s_up, h_up, settled_up) =
        classify_ode_viewed(&m_up, &init, 400.0, 40, &rule, &opts, &view_up)
            .map_err(anyhow::Error::msg)?;
    let end = solve(&m_up, OdeKind::Reduced, &init, &[0.0, h_up], &opts)?;
    let end_m = in_mode_basis(&end, &modes_up);
    let e = end_m
        .states
        .last()
        .cloned()
        .unwrap_or_else(|| MacroState::zeros(3));
    let off = (0..3)
        .flat_map(|l| (0..3).map(move |j| (l, j)))
        .filter(|(l, j)| l != j)
        .map(|(l, j)| e.p[(l, j)].abs())
        .fold(0.0, f64::max);
    let not_aligned = s_up.phase == Phase::Oscillation || off > 0.1;
    let lower_ok = bad.is_empty() && tested >= count / 2;
    let mut out = Outcome::from_verdicts(
        &[lower_ok, upper_unstable, control_ok, not_aligned],
        format!(
            "learned modes = {{l: lam_l > tau eta^2}} at {agree}/{tested} sweep points; too-strong mode: aligned rest top eigenvalue {:.3e}, ODE {} (largest off-diagonal |P'| {off:.2}, horizon {h_up}, settled {settled_up})",
            top_eigs.iter().copied().fold(f64::NAN, f64::max),
            s_up.phase
        ),
        format!(
            "every swept point at least {:.0}% away from an eigenvalue agrees; aligned rest unstable (eigenvalue > 1e-6) and stable in the control (<= 1e-9); ODE oscillates or settles with mixed modes (off-diagonal |P'| > 0.1)",
            margin * 100.0
        ),
    );
    out.details.push(format!(
        "M = R diag(6, 3, 1.5) R^T with R a fixed rotation (every entry non-zero), informed generator M~ = diag(6, 3, 1.5) (the exact case: \
         the data side is rotation invariant, so the ODE is Claim 1's in the mode basis); tau = 0.2; ODE from P0 = 0.1 I, q0 = 0.1 in the \
         original coordinates, classified in the mode bases (P' = E P G^T) with the one rule, horizon max(400, 16/tau~) extended while unsettled.\n\n\
         **Lower end.** alpha = {alpha}, tau eta^2 swept over [{lo}, {hi}] ({count} points, those within {:.0}% of an eigenvalue skipped: \
         learning rates ~ lam_l - tau eta^2 vanish there). Agreement {agree}/{tested}.{}\n\n\
         **Upper end.** tau eta^2 = 1, alpha = 0.5: intervals (1, 2 + 0.5 lam~_l], so mode 1 (lam = 6 > 5) is too strong while modes 2, 3 are inside. \
         The reduced Jacobian at the mode-aligned resting states P' = I and P' = diag((1 + p*_l) / 2) has top real parts {top_eigs:.3?} \
         (control, alpha = {alpha} so that every mode is inside: {control_eigs:.3?}, no unstable direction). \
         The ODE's verdict in the mode basis: {} at horizon {h_up} (settled {settled_up}); end state's largest off-diagonal |P'_lj| = {off:.3}. \
         For d >= 2 a too-strong mode need not oscillate for ever: as in claim1_boundaries, the ODE can settle at a resting point whose generator \
         columns mix the modes; either way the mode-aligned recovery that the interval describes is not reached.",
        margin * 100.0,
        if bad.is_empty() { String::new() } else { format!(" Disagreements: {}", bad.join("; ")) },
        s_up.phase,
    ));
    out.plots.push(
        ctx.plot(
            "solvable_interval",
            &Figure {
                title:
                    "Modes learned by the ODE against tau eta^2 (rotated M = R diag(6, 3, 1.5) R^T)"
                        .into(),
                x_label: "tau eta^2".into(),
                y_label: "number of modes learned".into(),
                series: vec![
                    Series {
                        label: "predicted #{l: lam_l > tau eta^2}".into(),
                        color: PALETTE[1],
                        style: Style::Line,
                        points: pts.iter().map(|p| (p.0, p.2)).collect(),
                    },
                    Series {
                        label: "ODE (mode basis)".into(),
                        color: PALETTE[0],
                        style: Style::Dots,
                        points: pts.iter().map(|p| (p.0, p.1)).collect(),
                    },
                ],
                y_range: Some((-0.2, 3.2)),
                ..Figure::default()
            },
        )?,
    );
    Ok(out)
}

/// Largest off-diagonal `|P'_lj|`, averaged over the last quarter of a path in the mode
/// bases: how much the generator's columns mix the modes.
fn mixing(t: &Trajectory) -> f64 {
    let k = t.len();
    let tail = &t.states[k - (k / 4).max(1)..];
    tail.iter()
        .map(|s| {
            let d = s.d();
            (0..d)
                .flat_map(|l| (0..d).map(move |j| (l, j)))
                .filter(|(l, j)| l != j)
                .map(|(l, j)| s.p[(l, j)].abs())
                .fold(0.0, f64::max)
        })
        .sum::<f64>()
        / tail.len() as f64
}

/// Largest mixing for which a resting path counts as mode-aligned.
const MIXED: f64 = 0.1;

/// `diag(6, 0.4) + rho v v^T`, `v = (1, 1) / sqrt 2`.
fn boosted(rho: f64) -> DMat {
    let mut m = DMat::from_diag(&[6.0, 0.4]);
    for i in 0..2 {
        for j in 0..2 {
            m[(i, j)] += rho / 2.0;
        }
    }
    m
}

fn signal_boosting(ctx: &Ctx) -> Result<Outcome> {
    let n = ctx.pick(5_000, 20_000);
    let members = ctx.pick(4, 8);
    let t_end = 800.0;
    let eta = 5.0_f64.sqrt(); // tau eta^2 = 1
    let rule_sim = PhaseRule::for_dimension(n);
    let opts = OdeOptions::default();
    let init = MacroState::diagonal_start(2, 0.1, 0.1);
    let cases = [
        (0.0, "weak (rho = 0)"),
        (3.0, "boosted (rho = 3)"),
        (10.0, "too strong (rho = 10)"),
    ];
    let mut verdicts = Vec::new();
    let mut measured = Vec::new();
    let mut rows = vec!["| case | lam (M) | predicted | ODE at T (mode basis) | ODE long-time | simulations (mode basis) |\n|---|---|---|---|---|---|".to_owned()];
    let mut panels = Vec::new();
    for (k, (rho, label)) in cases.iter().enumerate() {
        let m = fig1_with(n, eta, latent(&boosted(*rho)), Some(informed()))?;
        let modes = effective_modes(&m);
        let view = |t: &Trajectory| in_mode_basis(t, &modes);
        let runs = gram_runs(&m, &init, t_end, 4.0, members, 1300 + k as u64)?;
        let sims: Vec<Trajectory> = runs.iter().map(view).collect();
        let sim_phases: Vec<Phase> = sims
            .iter()
            .filter_map(|s| classify(s, &rule_sim).map(|c| c.phase))
            .collect();
        let sim_mix: Vec<f64> = sims.iter().map(mixing).collect();
        // A path recovers mode-aligned when it comes to rest (not oscillating) with
        // unmixed columns.
        let aligned = |p: &Phase, mix: f64| *p != Phase::Oscillation && mix <= MIXED;
        let ode = view(&solve(&m, OdeKind::Reduced, &init, &runs[0].times, &opts)?);
        let ode_t = classify(&ode, &PhaseRule::default()).map(|c| c.phase);
        let ode_mix = mixing(&ode);
        let (long, h, settled) =
            classify_ode_viewed(&m, &init, t_end, 40, &PhaseRule::default(), &opts, &view)
                .map_err(anyhow::Error::msg)?;
        let end = view(&solve(&m, OdeKind::Reduced, &init, &[0.0, h], &opts)?);
        let e = end
            .states
            .last()
            .cloned()
            .unwrap_or_else(|| MacroState::zeros(2));
        let off = e.p[(0, 1)].abs().max(e.p[(1, 0)].abs());
        let predicted = modes.predicted.clone();
        let all_sims = sim_phases.len() == members;
        let ok = match k {
            // The weak mode stays unlearned; the boosted one is learned: ODE and every
            // simulation are classified as predicted and rest mode-aligned.
            0 | 1 => {
                ode_t.as_ref() == Some(&predicted)
                    && aligned(&predicted, ode_mix)
                    && all_sims
                    && sim_phases
                        .iter()
                        .zip(&sim_mix)
                        .all(|(p, &x)| *p == predicted && aligned(p, x))
            }
            // Too strong: no path recovers mode-aligned, neither the ODE at T and at long
            // times nor any simulation (each either oscillates or rests with mixed
            // columns).
            _ => {
                predicted == Phase::Oscillation
                    && ode_t.as_ref().is_some_and(|p| !aligned(p, ode_mix))
                    && !aligned(&long.phase, off)
                    && all_sims
                    && sim_phases
                        .iter()
                        .zip(&sim_mix)
                        .all(|(p, &x)| !aligned(p, x))
            }
        };
        verdicts.push(ok);
        let sims_aligned = sim_phases
            .iter()
            .zip(&sim_mix)
            .filter(|(p, x)| aligned(p, **x))
            .count();
        measured.push(format!(
            "{label}: predicted {predicted}, ODE {} (mixing {ode_mix:.2}), {sims_aligned}/{members} sims recover mode-aligned",
            ode_t.as_ref().map(|p| p.to_string()).unwrap_or_default(),
        ));
        rows.push(format!(
            "| {label} | {:.3}, {:.3} | {predicted} | {}, mixing {ode_mix:.2} | {} at t = {h} (settled {settled}), mixing {off:.2} | {} |",
            modes.modes[0].lam,
            modes.modes[1].lam,
            ode_t.as_ref().map(|p| p.to_string()).unwrap_or_default(),
            long.phase,
            sim_phases
                .iter()
                .zip(&sim_mix)
                .map(|(p, x)| format!("{p}, mixing {x:.2}"))
                .collect::<Vec<_>>()
                .join("; ")
        ));
        panels.push(cosine_figure(
            &format!("{label}: predicted {predicted}"),
            &sims[..1],
            Some(&ode),
            &|i| (format!("mode {}", i + 1), format!("|q'{}|", i + 1)),
        ));
    }
    let mut out = Outcome::from_verdicts(
        &verdicts,
        measured.join("; "),
        format!(
            "weak and boosted: ODE and every simulation classified as predicted over [0, T] and at rest with mixing <= {MIXED}; too strong: none of them (ODE at T and at long times, every simulation at T) at rest with mixing <= {MIXED}"
        ),
    );
    out.details.push(format!(
        "M = diag(6, 0.4) + rho v v^T, v = (1, 1)/sqrt 2 (a correlation between the two latent coordinates), informed generator \
         M~ = diag(eig M), tau = 0.2, tau~ = 0.04 (alpha = 0.2), eta_T = eta_G = sqrt 5 (tau eta^2 = 1): the interval is (1, 10] for a \
         matched mode. Weak mode 0.4 < 1; rho = 3 lifts it to 1.52 with the top at 7.88; rho = 10 puts the top at 13.93 > 10. \
         ODE and Gram-engine simulations (n = {n}, {members} seeds) from P0 = 0.1 I, q0 = 0.1, T = {t_end}, classified in the mode bases; \
         simulations with the threshold raised to 10/sqrt(n) for the fluctuations of q. Long-time ODE: horizon doubled while unsettled. \
         Mixing: the largest off-diagonal |P'_lj| (window mean), i.e. how much a generator column serves two modes; a path recovers \
         mode-aligned when it is at rest with mixing <= {MIXED}.\n"
    ));
    out.details.extend(rows);
    out.details.push(
        "\nThe too-strong case oscillates for a long transient and then, for d = 2, settles at a resting point whose generator columns mix \
         the two modes (off-diagonal P' and S'), the same d >= 2 effect as in claim1_boundaries; the simulations' O(1/sqrt n) noise \
         shortens the transient, so some of them are already at the mixed rest by T. The mode-aligned recovery is lost either way."
            .into(),
    );
    // The approximate case, reported only: the generator's latent correlated like the
    // data's (M~ = M), so the column constraint couples its modes.
    let mut approx = vec![
        "\n**Correlated generator (M~ = M), reported, not asserted.** The intervals then use the eigenvalues of M~ but the generator's \
         column constraint couples its modes (generator_mismatch > 0), so they are an approximation. ODE from the same start:\n\n\
         | case | generator mismatch | predicted | ODE long-time (mode basis) | mixing |\n|---|---|---|---|---|"
            .to_owned(),
    ];
    for (rho, label) in &cases {
        let m = fig1_with(n, eta, latent(&boosted(*rho)), None)?;
        let modes = effective_modes(&m);
        let view = |t: &Trajectory| in_mode_basis(t, &modes);
        let (long, h, _) =
            classify_ode_viewed(&m, &init, t_end, 40, &PhaseRule::default(), &opts, &view)
                .map_err(anyhow::Error::msg)?;
        let end = view(&solve(&m, OdeKind::Reduced, &init, &[0.0, h], &opts)?);
        approx.push(format!(
            "| {label} | {:.3} | {} | {} at t = {h} | {:.2} |",
            modes.generator_mismatch,
            modes.predicted,
            long.phase,
            mixing(&end)
        ));
    }
    out.details.extend(approx);
    out.plots
        .push(ctx.plot_panels("signal_boosting", &panels, 3)?);
    Ok(out)
}
