//! Checks of the stability analysis (THEORY §6): Claim 1 against the ODE's phases, the box of
//! stable fixed points, the d = 1 fixed points, and where Figure 1 sits in the diagram.

use super::foundation::{fig1_model, simulate};
use super::{Check, Ctx, Outcome};
use anyhow::Result;
use hdgan_core::MacroState;
use hdgan_macro_ode::{OdeKind, OdeOptions, solve};
use hdgan_micro_sim::InitConfig;
use hdgan_model::{LatentConfig, Model, ModelConfig};
use hdgan_report::figures::phase_figure;
use hdgan_stability::{
    GridAxis, GridParam, Phase, PhaseMapSpec, PhaseRule, ReducedCoords, Stability, claim1,
    claim1_interior, classify, classify_ode, eigenvalues, fixed_points_d1, horizon, model_at,
    phase_map, reduced_jacobian,
};

pub(super) fn checks() -> Vec<Check> {
    vec![
        Check {
            name: "claim1_boundaries",
            claim: "On a grid of (tau eta^2, alpha), the ODE's phase agrees with Claim 1's prediction at every point away from the analytic boundaries (d = 1 exactly; d = 2 except where the ODE finds a stable resting point with mixed generator columns, which Claim 1 does not consider).",
            run: claim1_boundaries,
        },
        Check {
            name: "pstar_box",
            claim: "Successful ODE runs end inside the box p*_l <= |P_ll| <= 1, q = r = 0 (how far above p*_l is reported), and tau, alpha -> 0 drives the end state to P = I.",
            run: pstar_box,
        },
        Check {
            name: "fixed_points_d1",
            claim: "Every enumerated fixed point of the d = 1 reduced ODE has zero residual, and its stability verdict (Jacobian spectrum) matches what a trajectory started next to it does.",
            run: fixed_points_d1_check,
        },
        Check {
            name: "fig1_phase_points",
            claim: "The three Figure 1 settings lie in the regions of the phase diagram that Claim 1 and the ODE assign them, and the simulation's classification agrees with the ODE's.",
            run: fig1_phase_points,
        },
    ]
}

pub(super) fn fig1_init() -> MacroState {
    MacroState::diagonal_start(2, 0.1, 0.1)
}

fn d1_model(lam: f64) -> Result<Model> {
    let mut c = ModelConfig::figure1(1000, 2.0);
    c.d = 1;
    c.latent = LatentConfig::diagonal(&[lam]);
    Ok(c.validate("model")?)
}

fn d1_init() -> MacroState {
    MacroState::diagonal_start(1, 0.1, 0.1)
}

pub(super) fn spec(ctx: &Ctx, init: MacroState) -> PhaseMapSpec {
    let count = ctx.pick(40, 100);
    PhaseMapSpec {
        x: GridAxis {
            param: GridParam::TauEtaSq,
            min: 0.05,
            max: 6.0,
            count,
        },
        y: GridAxis {
            param: GridParam::Alpha,
            min: 0.1,
            max: 1.0,
            count,
        },
        t_end: 400.0,
        generator_horizon: 16.0,
        samples: 40,
        init,
        rule: PhaseRule::default(),
        ode: OdeOptions {
            rtol: 1e-7,
            atol: 1e-9,
            ..OdeOptions::default()
        },
    }
}

/// Margin from the boundaries, as a fraction of each axis' range.
const MARGIN: f64 = 0.03;

fn claim1_boundaries(ctx: &Ctx) -> Result<Outcome> {
    let mut verdicts = Vec::new();
    let mut measured = Vec::new();
    let mut details = vec![format!(
        "Grid: tau eta^2 in [0.05, 6], alpha in [0.1, 1] (as alpha -> 0 the generator's time scale 1/tau~ diverges and slow transients outrun any fixed horizon budget), {0} x {0} points, eta_T = eta_G, tau = 0.2; ODE from P0 = 0.1 I, q0 = 0.1 \
         (horizon max(400, 16 / tau~), doubled up to 4 times while unsettled); one classification rule (hdgan-stability). \
         A point is interior when Claim 1 predicts the same phase at it and at its 8 neighbours {1:.0}% of each axis range away. \
         Near a boundary the ODE's own time scales diverge (learning rates ~ Lam_l - tau eta^2, instability growth ~ distance), \
         so no finite horizon classifies there; the margin is that band.\n",
        ctx.pick(40, 100),
        MARGIN * 100.0
    )];
    let mut plots = Vec::new();
    for (label, model, init) in [
        ("d = 1, Lam = Lam~ = 5", d1_model(5.0)?, d1_init()),
        (
            "d = 2, Lam = Lam~ = diag(5, 3) (Figure 1)",
            fig1_model(5000, 2.0)?,
            fig1_init(),
        ),
    ] {
        let sp = spec(ctx, init.clone());
        let map = phase_map(&model, &sp, None);
        let margin = (
            (sp.x.max - sp.x.min) * MARGIN,
            (sp.y.max - sp.y.min) * MARGIN,
        );
        let (mut interior, mut agree, mut mixed, mut other) = (0usize, 0usize, 0usize, Vec::new());
        let mut unsettled = 0usize;
        for c in &map.cells {
            if !claim1_interior(&model, &sp.x, &sp.y, (c.x, c.y), margin) {
                continue;
            }
            interior += 1;
            if !c.ode_settled {
                unsettled += 1;
                continue;
            }
            if c.agrees() == Some(true) {
                agree += 1;
                continue;
            }
            // A disagreement: is it a stable resting point with mixed columns?
            let m = model_at(&model, &sp.x, &sp.y, (c.x, c.y))?;
            let explained = model.d() > 1
                && c.ode.as_ref().is_some_and(|o| o.phase == Phase::Success)
                && mixed_stable_rest(&m, &init, &sp)?;
            if explained {
                mixed += 1;
            } else {
                other.push(format!(
                    "({:.3}, {:.3}): Claim 1 {}, ODE {}",
                    c.x,
                    c.y,
                    c.claim1.as_ref().map(|p| p.to_string()).unwrap_or_default(),
                    c.ode
                        .as_ref()
                        .map(|o| o.phase.to_string())
                        .or(c.ode_error.clone())
                        .unwrap_or_default()
                ));
            }
        }
        // At most 2% of interior points may stay unsettled at 16x the horizon.
        verdicts.push(other.is_empty() && unsettled * 50 <= interior);
        measured.push(format!(
            "{label}: {agree}/{interior} agree, {mixed} mixed-column, {unsettled} unsettled, {} unexplained",
            other.len()
        ));
        details.push(format!(
            "- {label}: {interior} interior points; {agree} agree; {mixed} disagree because the ODE settles at a stable resting point with mixed generator columns; {unsettled} not settled at 16x the horizon (excluded, at most 2% allowed); {} unexplained{}.",
            other.len(),
            if other.is_empty() { String::new() } else { format!(" (first: {})", other.iter().take(5).cloned().collect::<Vec<_>>().join("; ")) }
        ));
        plots.push(ctx.plot_cells(
            &format!("claim1_boundaries_d{}", model.d()),
            &phase_figure(&format!("ODE phases, {label}"), &model, &map, Vec::new()),
        )?);
    }
    details.push(
        "\n**Mixed-column resting points (d = 2).** Claim 1's left side uses max_l (Lam_l - Lam~_l + alpha Lam~_l) / 2, i.e. the \
         stability of diagonal P. Between tau eta^2 = 1.5 alpha (mode 2's own boundary) and 2.5 alpha (mode 1's), the ODE from \
         near the origin does not oscillate: it settles at (or, within 1e-2 and with spectrum within 1e-3 of stable, creeps along) q = r = 0 with off-diagonal P (e.g. tau eta^2 = 1.3, alpha = 0.6: \
         P11 = 0.83, P22 = 0.66, P12 = 0.50, P21 = -0.20) whose Jacobian has no eigenvalue with positive real part (zeros along \
         the resting family, the rest negative), and whose Gram matrix is positive definite. Such points are counted as explained \
         only after both facts are verified at the ODE's end state. Claim 1's oscillation side is a condition on diagonal states, \
         not a phase boundary, for d >= 2."
            .into(),
    );
    let mut out = Outcome::from_verdicts(
        &verdicts,
        measured.join("; "),
        format!(
            "0 unexplained disagreements beyond a {:.0}% margin",
            MARGIN * 100.0
        ),
    );
    out.details = details;
    out.plots = plots;
    Ok(out)
}

/// Whether the ODE of `m` from `init` ends near a resting point (|q|, |r| < 1e-2) with
/// some off-diagonal |P_lj| > 0.1, a Jacobian with no eigenvalue real part above 1e-3
/// (stable, or so weakly unstable that it drifts along the resting family over 1e4 time
/// units: the spectrum of these states crosses zero slowly, measured at
/// (tau eta^2, alpha) = (1.42, 0.70): +5e-4 at t = 6400, -5e-4 at t = 30000) and a
/// positive definite Gram matrix.
fn mixed_stable_rest(m: &Model, init: &MacroState, sp: &PhaseMapSpec) -> Result<bool> {
    let (_, t, _) = classify_ode(
        m,
        init,
        horizon(m, sp.t_end, sp.generator_horizon),
        sp.samples,
        &sp.rule,
        &sp.ode,
    )
    .map_err(anyhow::Error::msg)?;
    let traj = solve(m, OdeKind::Reduced, init, &[0.0, t], &sp.ode)?;
    let end = traj.last().ok_or_else(|| anyhow::anyhow!("empty path"))?;
    let d = end.d();
    let off = (0..d).any(|l| (0..d).any(|j| l != j && end.p[(l, j)].abs() > 0.1));
    let resting = end.q.iter().chain(&end.r).all(|x| x.abs() < 1e-2);
    let stable = eigenvalues(&reduced_jacobian(m, end))
        .iter()
        .all(|e| e.0 <= 1e-3);
    let gram_pd = eigenvalues(&end.gram()).iter().all(|e| e.0 > 0.0);
    Ok(off && resting && stable && gram_pd)
}

fn pstar_box(ctx: &Ctx) -> Result<Outcome> {
    let base = fig1_model(5000, 2.0)?;
    let rule = PhaseRule::default();
    let opts = OdeOptions {
        rtol: 1e-9,
        atol: 1e-11,
        ..OdeOptions::default()
    };
    let mut gaps = Vec::new();
    let mut inside = true;
    let mut rows = vec![
        "| tau eta^2 | alpha | P11 (p*_1) | P22 (p*_2) | gap above p* |\n|---|---|---|---|---|"
            .to_owned(),
    ];
    let tes: Vec<f64> = ctx.pick(
        vec![0.6, 1.2, 2.0, 2.6],
        vec![0.4, 0.6, 0.9, 1.2, 1.6, 2.0, 2.4, 2.7],
    );
    for &te in &tes {
        for &alpha in &[0.05, 0.1, 0.2] {
            let m = GridParam::Alpha.apply(&GridParam::TauEtaSq.apply(&base, te)?, alpha)?;
            let c = claim1(&m).ok_or_else(|| anyhow::anyhow!("diagonal model expected"))?;
            if c.predicted != Phase::Success {
                continue;
            }
            let t = horizon(&m, 400.0, 16.0);
            let (summary, t_used, _) =
                classify_ode(&m, &fig1_init(), t, 40, &rule, &opts).map_err(anyhow::Error::msg)?;
            if summary.phase != Phase::Success {
                continue;
            }
            let end = solve(&m, OdeKind::Reduced, &fig1_init(), &[0.0, t_used], &opts)?;
            let e = end.last().ok_or_else(|| anyhow::anyhow!("empty path"))?;
            let mut row_gaps = Vec::new();
            for l in 0..2 {
                let p = e.p[(l, l)].abs();
                let ps = c.p_star[l].unwrap_or(0.0);
                // Box membership to the integrator's accuracy.
                inside &= p >= ps - 1e-6 && p <= 1.0 + 1e-9;
                row_gaps.push(p - ps);
                gaps.push(p - ps);
            }
            rows.push(format!(
                "| {te} | {alpha} | {:.4} ({:.4}) | {:.4} ({:.4}) | {:.4}, {:.4} |",
                e.p[(0, 0)],
                c.p_star[0].unwrap_or(0.0),
                e.p[(1, 1)],
                c.p_star[1].unwrap_or(0.0),
                row_gaps[0],
                row_gaps[1]
            ));
        }
    }
    // tau, alpha -> 0 with eta fixed: P -> I.
    let mut to_identity = Vec::new();
    for &tau in &[0.2, 0.1, 0.05, 0.025] {
        let m = base.with_rates(tau, tau * tau)?; // alpha = tau -> 0 as well
        let t = horizon(&m, 400.0, 16.0);
        let (summary, t_used, _) =
            classify_ode(&m, &fig1_init(), t, 40, &rule, &opts).map_err(anyhow::Error::msg)?;
        let end = solve(&m, OdeKind::Reduced, &fig1_init(), &[0.0, t_used], &opts)?;
        let e = end.last().ok_or_else(|| anyhow::anyhow!("empty path"))?;
        let dist = (0..2).map(|l| 1.0 - e.p[(l, l)].abs()).fold(0.0, f64::max);
        let pmin = claim1(&m)
            .and_then(|c| c.p_star.iter().flatten().copied().reduce(f64::min))
            .unwrap_or(0.0);
        to_identity.push((tau, dist, 1.0 - pmin, summary.phase));
    }
    let monotone = to_identity.windows(2).all(|w| w[1].1 < w[0].1);
    let last = to_identity.last().map(|r| r.1).unwrap_or(1.0);
    let all_success = to_identity.iter().all(|r| r.3 == Phase::Success);
    let sorted = {
        let mut g = gaps.clone();
        g.sort_by(f64::total_cmp);
        g
    };
    let med = sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN);
    let mut out = Outcome::from_verdicts(
        &[
            inside,
            !gaps.is_empty(),
            monotone && all_success && last < 0.05,
        ],
        format!(
            "{} successful runs inside the box; gap above p*: min {:.4}, median {:.4}, max {:.4}; tau = alpha = 0.025: max|1 - P_ll| = {last:.4}",
            gaps.len() / 2,
            sorted.first().copied().unwrap_or(f64::NAN),
            med,
            sorted.last().copied().unwrap_or(f64::NAN)
        ),
        "p*_l - 1e-6 <= |P_ll| <= 1; 1 - P_ll decreasing to < 0.05".into(),
    );
    out.details.push(
        "Figure 1 model from P0 = 0.1 I, q0 = 0.1, reduced ODE at rtol 1e-9 to the horizon the classifier settled on; every point \
         where both Claim 1 and the ODE say success. The paper says runs from near the origin end 'at a corner' of the box; \
         the table shows how far above p* they stop (they do not end exactly at p*).\n"
            .into(),
    );
    out.details.extend(rows);
    out.details.push("\n| tau (= alpha) | max_l (1 - |P_ll|) at the end | 1 - min_l p*_l | ODE phase |\n|---|---|---|---|".into());
    for (tau, dist, bound, ph) in &to_identity {
        out.details
            .push(format!("| {tau} | {dist:.4} | {bound:.4} | {ph} |"));
    }
    Ok(out)
}

fn fixed_points_d1_check(ctx: &Ctx) -> Result<Outcome> {
    let settings: Vec<(f64, f64, f64)> = ctx.pick(
        vec![
            (5.0, 2.0, 0.2),
            (5.0, 1.0, 0.2),
            (2.0, 2.0, 0.2),
            (5.0, 2.0, 0.9),
        ],
        vec![
            (5.0, 2.0, 0.2),
            (5.0, 1.0, 0.2),
            (2.0, 2.0, 0.2),
            (5.0, 2.0, 0.9),
            (3.0, 1.5, 0.5),
            (8.0, 3.0, 0.1),
            (5.0, 0.5, 0.05),
        ],
    );
    let mut rows = vec!["| Lam | eta | alpha | kind | P, q, r | residual | verdict | nearby run: max distance | consistent |\n|---|---|---|---|---|---|---|---|---|".to_owned()];
    let (mut total, mut bad, mut worst_res) = (0usize, 0usize, 0.0f64);
    let opts = OdeOptions {
        rtol: 1e-10,
        atol: 1e-12,
        ..OdeOptions::default()
    };
    for (lam, eta, alpha) in settings {
        let m = d1_model(lam)?;
        let m = m.with_config(|c| {
            c.eta_t = eta;
            c.eta_g = eta;
            c.tau_tilde = alpha * m.tau();
        })?;
        let pstar = claim1(&m).and_then(|c| c.p_star[0]).unwrap_or(0.5);
        let line: Vec<f64> = vec![0.0, 0.5 * pstar, (pstar + 1.0) / 2.0];
        for fp in fixed_points_d1(&m, &line) {
            total += 1;
            worst_res = worst_res.max(fp.residual);
            // Start 1e-4 away along a fixed direction mixing every coordinate, run T = 300.
            let c = ReducedCoords { d: 1 };
            let mut x = c.from_state(&fp.state);
            for (k, xi) in x.iter_mut().enumerate() {
                *xi += 1e-4 * [0.6, -0.5, 0.62][k % 3];
            }
            let start = c.to_state(&x);
            let times: Vec<f64> = (0..=60).map(|k| k as f64 * 5.0).collect();
            let traj = solve(&m, OdeKind::Reduced, &start, &times, &opts)?;
            let dist = traj
                .states
                .iter()
                .map(|s| {
                    let y = c.from_state(s);
                    y.iter()
                        .zip(c.from_state(&fp.state))
                        .map(|(a, b)| (a - b).abs())
                        .fold(0.0, f64::max)
                })
                .fold(0.0, f64::max);
            // Stable / marginal: stays within 1e-2 (100x the kick); unstable: leaves beyond it.
            let consistent = match fp.stability {
                Stability::Stable | Stability::Marginal => dist < 1e-2,
                Stability::Unstable => dist > 1e-2,
            } && fp.residual < 1e-10;
            if !consistent {
                bad += 1;
            }
            let s = &fp.state;
            rows.push(format!(
                "| {lam} | {eta} | {alpha} | {:?} | {:.4}, {:.4}, {:.4} | {:.1e} | {:?} | {dist:.2e} | {} |",
                fp.kind, s.p[(0, 0)], s.q[0], s.r[0], fp.residual, fp.stability, if consistent { "yes" } else { "NO" }
            ));
        }
    }
    let mut out = Outcome::from_verdicts(
        &[bad == 0, total > 0],
        format!("{total} fixed points, {bad} inconsistent; max residual {worst_res:.1e}"),
        "residual < 1e-10; stable/marginal stay within 1e-2 of a 1e-4 kick over T = 300, unstable leave".into(),
    );
    out.details.push(
        "Each fixed point is kicked by 1e-4 in every free coordinate (P, q, r) and integrated to T = 300 (rtol 1e-10). A stable \
         or marginal point (zero eigenvalue along the resting line) keeps the path within 1e-2; an unstable one (eigenvalue real \
         part > 1e-9 tau Lam) amplifies the kick beyond 1e-2 (the smallest unstable rates here are ~0.05, i.e. growth by e^15).\n"
            .into(),
    );
    out.details.extend(rows);
    Ok(out)
}

fn fig1_phase_points(ctx: &Ctx) -> Result<Outcome> {
    let base = fig1_model(5000, 2.0)?;
    let sp = {
        let mut s = spec(ctx, fig1_init());
        s.x.max = 4.0;
        s.x.count = ctx.pick(40, 80);
        s.y.count = ctx.pick(40, 80);
        s
    };
    let map = phase_map(&base, &sp, None);
    let n = ctx.pick(2000, 5000);
    let points = [
        (2.0, Phase::Success),
        (1.0, Phase::Oscillation),
        (
            4.0,
            Phase::ModeCollapse {
                learned: vec![0],
                missing: vec![1],
            },
        ),
    ];
    let mut verdicts = Vec::new();
    let mut measured = Vec::new();
    let mut markers = Vec::new();
    let mut details = vec!["| eta | (tau eta^2, alpha) | Claim 1 | ODE | nearest grid cell (ODE) | simulation |\n|---|---|---|---|---|---|".to_owned()];
    for (k, (eta, expected)) in points.into_iter().enumerate() {
        let m = fig1_model(n, eta)?;
        let at = (m.tau() * m.eta_sq(), m.alpha());
        let c1 = claim1(&m).map(|c| c.predicted);
        let (ode, _, _) = classify_ode(
            &m,
            &fig1_init(),
            horizon(&m, sp.t_end, sp.generator_horizon),
            sp.samples,
            &sp.rule,
            &sp.ode,
        )
        .map_err(anyhow::Error::msg)?;
        let cell = map
            .cells
            .iter()
            .min_by(|a, b| {
                ((a.x - at.0).powi(2) + (a.y - at.1).powi(2))
                    .total_cmp(&((b.x - at.0).powi(2) + (b.y - at.1).powi(2)))
            })
            .and_then(|c| c.ode.as_ref().map(|o| o.phase.clone()));
        let init = InitConfig::diagonal(2, 0.1, 0.1).validate("init", &m)?;
        let t_end = if eta < 1.5 { 400.0 } else { 200.0 };
        let sims = simulate(&m, &init, t_end, 1.0, 1, 5000 + k as u64)?;
        let sim = classify(&sims[0], &PhaseRule::for_dimension(n)).map(|s| s.phase);
        let ok = c1.as_ref() == Some(&expected)
            && ode.phase == expected
            && cell.as_ref() == Some(&expected)
            && sim.as_ref() == Some(&ode.phase);
        verdicts.push(ok);
        measured.push(format!(
            "eta={eta}: {}",
            if ok { "as predicted" } else { "MISMATCH" }
        ));
        details.push(format!(
            "| {eta} | ({:.2}, {:.2}) | {} | {} | {} | {} |",
            at.0,
            at.1,
            c1.map(|p| p.to_string()).unwrap_or_default(),
            ode.phase,
            cell.map(|p| p.to_string()).unwrap_or_default(),
            sim.map(|p| p.to_string()).unwrap_or_default()
        ));
        markers.push((at.0, at.1, format!(" eta = {eta}")));
    }
    let mut out = Outcome::from_verdicts(
        &verdicts,
        measured.join("; "),
        "Claim 1 = ODE = map cell = simulation".into(),
    );
    details.insert(
        0,
        format!("Figure 1's three panels are the points tau eta^2 = 0.8, 0.2, 3.2 at alpha = 0.2. Simulation: n = {n}, one seed, classified by the same rule.\n"),
    );
    out.details = details;
    out.plots.push(ctx.plot_cells(
        "fig1_phase_points",
        &phase_figure(
            "Figure 1's settings in the phase diagram (ODE phases)",
            &base,
            &map,
            markers,
        ),
    )?);
    Ok(out)
}
