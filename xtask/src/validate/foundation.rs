//! Checks of the foundation: Theorem 1 on Figure 1, the general ODE (8) with the corrected
//! `h`, the reduced ODE as the large-lambda limit, and the three phases of Figure 1.

use super::{Check, Ctx, Outcome, Status};
use crate::stats::{linear_fit, mean, se};
use anyhow::Result;
use hdgan_core::{MacroState, Trajectory};
use hdgan_macro_ode::{HForm, OdeKind, OdeOptions, solve};
use hdgan_micro_sim::{InitConfig, InitState, Schedule, StepMode, full_ensemble};
use hdgan_model::{LambdaValue, LatentConfig, Model, ModelConfig};
use hdgan_report::figures::figure1;
use hdgan_report::plot::{Figure, PALETTE, Series, Style};
use hdgan_stability::{Phase, PhaseRule, claim1, classify, switch_time};

pub(super) fn checks() -> Vec<Check> {
    vec![
        Check {
            name: "theorem1_fig1",
            claim: "Theorem 1 on Figure 1's successful run (reduced ODE): the simulation's macroscopic path stays close to the ODE's over t in [0, T], the maximal deviation shrinks as n grows, and the end states agree.",
            run: theorem1_fig1,
        },
        Check {
            name: "ode_general_vs_sim",
            claim: "For finite lambda and eta_T != eta_G, the ensemble mean of the simulation follows ODE (8) with h = eta_T <f'> - eta_G <f~'> - lambda H'(z) (THEORY §4), and not the paper's printed h (d = 1 and d = 2).",
            run: ode_general_vs_sim,
        },
        Check {
            name: "reduced_is_large_lambda_limit",
            claim: "ODE (8) with finite lambda approaches the reduced ODE (13)-(14) as lambda grows, at rate 1/lambda.",
            run: reduced_is_large_lambda_limit,
        },
        Check {
            name: "fig1_phases",
            claim: "At eta_T = eta_G = 2, 1, 4 the ODE ends in success, oscillation, and collapse of feature 2 only, as Claim 1 predicts, and the simulation is classified the same way.",
            run: fig1_phases,
        },
    ]
}

/// Figure 1's model at dimension n and noise variance eta (= eta_T = eta_G).
pub(super) fn fig1_model(n: usize, eta: f64) -> Result<Model> {
    Ok(hdgan_experiments::reference::figure1(n, eta)?)
}

fn model(
    n: usize,
    d: usize,
    lambda: LambdaValue,
    eta_t: f64,
    eta_g: f64,
    lam: &[f64],
) -> Result<Model, hdgan_core::ParamError> {
    ModelConfig {
        n,
        d,
        tau: 0.2,
        tau_tilde: 0.04,
        eta_t,
        eta_g,
        lambda,
        latent: LatentConfig::diagonal(&lam[..d]),
        latent_tilde: None,
        // loss, l1, p: Example 1 defaults.
        ..ModelConfig::figure1(n, 2.0)
    }
    .validate("model")
}

/// `members` simulations (fast step) from `init`, recorded every `dt` up to `t_end`.
pub(super) fn simulate(
    m: &Model,
    init: &InitState,
    t_end: f64,
    dt: f64,
    members: usize,
    seed: u64,
) -> Result<Vec<Trajectory>> {
    let schedule = Schedule::from_times(m.n(), t_end, dt)?;
    Ok(full_ensemble(
        m,
        init,
        StepMode::Fast,
        members,
        seed,
        &schedule,
    )?)
}

/// The ODE of `kind` from a trajectory's own initial state, at its times.
pub(super) fn ode_along(m: &Model, kind: OdeKind, t: &Trajectory) -> Result<Trajectory> {
    Ok(solve(
        m,
        kind,
        &t.states[0],
        &t.times,
        &OdeOptions::default(),
    )?)
}

/// Deviations of one simulated path from its ODE path.
struct Deviation {
    /// max over t, (i, j) of |P_ij - P_ij^ODE|.
    p: f64,
    /// max over t outside the switching window, i of ||q_i| - |q_i^ODE||.
    q: f64,
    /// the same inside the switching window.
    q_switch: f64,
    /// max_i |P_ii(T) - P_ii^ODE(T)|.
    end: f64,
}

fn deviation(sim: &Trajectory, ode: &Trajectory, window: (f64, f64)) -> Deviation {
    let mut d = Deviation {
        p: 0.0,
        q: 0.0,
        q_switch: 0.0,
        end: 0.0,
    };
    for ((t, s), o) in sim.times.iter().zip(&sim.states).zip(&ode.states) {
        d.p = d.p.max(s.p.max_abs_diff(&o.p));
        let dq =
            s.q.iter()
                .zip(&o.q)
                .map(|(a, b)| (a.abs() - b.abs()).abs())
                .fold(0.0, f64::max);
        if *t >= window.0 && *t <= window.1 {
            d.q_switch = d.q_switch.max(dq);
        } else {
            d.q = d.q.max(dq);
        }
    }
    if let (Some(s), Some(o)) = (sim.last(), ode.last()) {
        d.end = (0..s.d())
            .map(|i| (s.p[(i, i)] - o.p[(i, i)]).abs())
            .fold(0.0, f64::max);
    }
    d
}

/// Half-width of the switching window excluded from the q criterion of `theorem1_fig1`.
const SWITCH_HALF_WIDTH: f64 = 10.0;

fn theorem1_fig1(ctx: &Ctx) -> Result<Outcome> {
    let (n1, n2) = ctx.pick((500, 4000), (500, 8000));
    let k = 16;
    let t_end = 200.0;
    struct PerN {
        n: usize,
        devs: Vec<Deviation>,
        wrong: Vec<f64>,
        first: (Trajectory, Trajectory),
        window: (f64, f64),
    }
    let mut per_n: Vec<PerN> = Vec::new();
    for (idx, &n) in [n1, n2].iter().enumerate() {
        let m = fig1_model(n, 2.0)?;
        let init = InitConfig::diagonal(2, 0.1, 0.1).validate("init", &m)?;
        let sims = simulate(&m, &init, t_end, 1.0, k, 1000 + idx as u64)?;
        // Negative control: the ODE of a wrong model (tau~ 25% too large).
        let m_wrong = m.with_tau_tilde(m.tau_tilde() * 1.25)?;
        let mut devs = Vec::new();
        let mut wrong = Vec::new();
        let mut first = None;
        let mut window = (f64::NAN, f64::NAN);
        for s in &sims {
            let o = ode_along(&m, OdeKind::Reduced, s)?;
            let ts = switch_time(&o)
                .ok_or_else(|| anyhow::anyhow!("the ODE never switches features"))?;
            window = (ts - SWITCH_HALF_WIDTH, ts + SWITCH_HALF_WIDTH);
            devs.push(deviation(s, &o, window));
            let ow = ode_along(&m_wrong, OdeKind::Reduced, s)?;
            wrong.push(deviation(s, &ow, window).p);
            if first.is_none() {
                first = Some((s.clone(), o));
            }
        }
        let first = first.ok_or_else(|| anyhow::anyhow!("no runs"))?;
        per_n.push(PerN {
            n,
            devs,
            wrong,
            first,
            window,
        });
    }
    let z = |a: &[f64], b: &[f64]| (mean(a) - mean(b)) / (se(a).powi(2) + se(b).powi(2)).sqrt();
    let col = |p: &PerN, f: fn(&Deviation) -> f64| -> Vec<f64> { p.devs.iter().map(f).collect() };
    let (small, large) = (&per_n[0], &per_n[1]);
    let z_p = z(&col(small, |d| d.p), &col(large, |d| d.p));
    let z_q = z(&col(small, |d| d.q), &col(large, |d| d.q));
    let z_wrong = z(&large.wrong, &col(large, |d| d.p));
    let end_mean = mean(&col(large, |d| d.end));
    let verdicts = [z_p >= 2.33, z_q >= 2.33, z_wrong >= 3.0, end_mean <= 0.02];
    let mut out = Outcome::from_verdicts(
        &verdicts,
        format!(
            "max|dP| {:.3}->{:.3}, max||q|-|q_ode|| {:.3}->{:.3} (n {}->{}); end |dP_ii| {:.4}",
            mean(&col(small, |d| d.p)),
            mean(&col(large, |d| d.p)),
            mean(&col(small, |d| d.q)),
            mean(&col(large, |d| d.q)),
            n1,
            n2,
            end_mean
        ),
        format!(
            "shrink z >= 2.33 (P: {z_p:.1}, q: {z_q:.1}); wrong-ODE z >= 3 ({z_wrong:.1}); end <= 0.02"
        ),
    );
    out.details.push(format!(
        "{k} seeds per n, T = {t_end}, fast step, reduced ODE (13) from each run's own initial overlaps (P0 = 0.1 I, q0 = (0.1, 0.1)). \
         Per seed: D_P = max over recorded t in [0, T] and (i, j) of |P_ij - P_ij^ODE|; D_q = max over t and i of ||q_i| - |q_i^ODE|| \
         outside the switching window [{:.0}, {:.0}], and D_q,switch inside it; end gap = max_i |P_ii(T) - P_ii^ODE(T)|.\n",
        large.window.0, large.window.1
    ));
    out.details.push(
        "| n | mean D_P (SE) | mean D_q (SE) | mean D_q,switch (SE) | end gap (SE) | D_P against the wrong ODE (SE) |\n|---|---|---|---|---|---|".into(),
    );
    for p in &per_n {
        let (a, b, c, e) = (
            col(p, |d| d.p),
            col(p, |d| d.q),
            col(p, |d| d.q_switch),
            col(p, |d| d.end),
        );
        out.details.push(format!(
            "| {} | {:.4} ({:.4}) | {:.4} ({:.4}) | {:.4} ({:.4}) | {:.5} ({:.5}) | {:.4} ({:.4}) |",
            p.n, mean(&a), se(&a), mean(&b), se(&b), mean(&c), se(&c), mean(&e), se(&e), mean(&p.wrong), se(&p.wrong)
        ));
    }
    out.details.push(
        "\n**Tolerances.** Shrinking is a one-sided z-test of mean D(n1) > mean D(n2) at the 1% level (z >= 2.33, SEs from the seed spread). \
         The negative control compares the same runs with the ODE of a wrong model (tau~ x 1.25): its D_P must exceed the true one by z >= 3, \
         so the check fails when the physics is wrong. The end gap is held to the 0.02 of the acceptance criterion.\n\n\
         **The switching window.** Between the two learning stages the discriminator leaves feature 1 and escapes from q_2 ~ 0 along feature 2. \
         The ODE seeds that escape with a residual q_2 of about 0.02 (t = 38-40), set by the small P_21; the simulation seeds it with noise of \
         about 4/sqrt(n) (0.03 at n = 16000, measured), larger than the residual for every n up to about 10^5. The escape then starts from a \
         larger |q_2| on average (E|a + noise| > |a|), happens earlier by up to a few time units, and its sign is random (the ODE is symmetric \
         under (q, r) -> (-q, -r), hence |q| is compared). In that window the deviation of q is a timing offset on the steep rise of q_2 and \
         stays at 0.25-0.3 for n from 1000 to 16000 (measured: 0.36, 0.24, 0.28 at n = 1000, 4000, 16000 with 4 seeds); it must shrink \
         only once the noise is well below the residual. The window is located from the ODE alone (the first time |q_2| > |q_1|, +-10) and \
         reported in the table; outside it D_q is tested like D_P. Theorem 1's rate over the whole path at n up to 10^6 is the Gram engine's \
         `theorem1_rate` check."
            .into(),
    );
    // Plot: deviation over time for the first seed at each n.
    let mut series = Vec::new();
    for (k_n, p) in per_n.iter().enumerate() {
        let (s, o) = &p.first;
        let pts = |f: &dyn Fn(&MacroState, &MacroState) -> f64| -> Vec<(f64, f64)> {
            s.times
                .iter()
                .copied()
                .zip(s.states.iter().zip(&o.states).map(|(a, b)| f(a, b)))
                .collect()
        };
        series.push(Series {
            label: format!("max |P - P_ode|, n = {}", p.n),
            color: PALETTE[k_n],
            style: Style::Line,
            points: pts(&|a, b| a.p.max_abs_diff(&b.p)),
        });
        series.push(Series {
            label: format!("max ||q| - |q_ode||, n = {}", p.n),
            color: PALETTE[k_n],
            style: Style::Dashed,
            points: pts(&|a, b| {
                a.q.iter()
                    .zip(&b.q)
                    .map(|(x, y)| (x.abs() - y.abs()).abs())
                    .fold(0.0, f64::max)
            }),
        });
    }
    out.plots.push(ctx.plot(
        "theorem1_fig1_deviation",
        &Figure {
            title: "Simulation - ODE, Figure 1 success (first seed)".into(),
            x_label: "t".into(),
            y_label: "deviation".into(),
            series,
            ..Figure::default()
        },
    )?);
    let (s, o) = &large.first;
    out.plots.push(ctx.plot(
        "theorem1_fig1_paths",
        &figure1(
            &format!("Figure 1 success, n = {n2}, first seed"),
            std::slice::from_ref(s),
            Some(o),
        ),
    )?);
    Ok(out)
}

/// Regularisation strength of `ode_general_vs_sim`.
const LAMBDA: f64 = 5.0;

fn ode_general_vs_sim(ctx: &Ctx) -> Result<Outcome> {
    let n = ctx.pick(1000, 2000);
    let members = 64;
    let t_end = 15.0;
    let mut verdicts = Vec::new();
    let mut measured = Vec::new();
    let mut details = vec![format!(
        "lambda = {LAMBDA}, eta_T = 1.5, eta_G = 0.5, tau = 0.2, tau~ = 0.04, Lam = Lam~ = diag(5, 3)[..d], n = {n}, {members} seeds, T = {t_end}, \
         P0 = 0.3 I, q0 = 0.3, unit norms. (At lambda = 2 the same setting drives z up to 12 and, for d = 2, through a second escape of q \
         near t = 10-13, where the ensemble mean averages over noise-dependent escape times and its bias exceeds O(1/n); lambda = {LAMBDA} keeps \
         the path smooth while eta_T - eta_G = 1 still separates the two forms of h by many standard errors.) Statistic: max over recorded t and every entry of M of |mean_sim - ODE| / (5 SE + 2/n), \
         SE from the seed spread. 5 SE keeps the family-wise false-alarm rate below 1% over the ~400 (correlated) entry-time pairs; \
         2/n allows the O(1/n) bias of the ensemble mean. The corrected h must give a statistic <= 1, the printed h > 1.\n",
    )];
    let mut plots = Vec::new();
    for d in [1usize, 2] {
        let m = model(n, d, LambdaValue::Number(LAMBDA), 1.5, 0.5, &[5.0, 3.0])?;
        let init = InitConfig::diagonal(d, 0.3, 0.3).validate("init", &m)?;
        let sims = simulate(&m, &init, t_end, 0.5, members, 2000 + d as u64)?;
        let mean_path = Trajectory::mean(&sims).ok_or_else(|| anyhow::anyhow!("empty ensemble"))?;
        let corrected = ode_along(&m, OdeKind::General(HForm::Corrected), &mean_path)?;
        let printed = ode_along(&m, OdeKind::General(HForm::AsPrinted), &mean_path)?;
        let names = MacroState::column_names(d);
        let stat = |ode: &Trajectory| -> (f64, String) {
            let mut worst = (0.0, String::new());
            for (ti, &t) in mean_path.times.iter().enumerate() {
                let col: Vec<Vec<f64>> = sims.iter().map(|s| s.states[ti].pack()).collect();
                let o = ode.states[ti].pack();
                for e in 0..o.len() {
                    let xs: Vec<f64> = col.iter().map(|v| v[e]).collect();
                    let r = (mean(&xs) - o[e]).abs() / (5.0 * se(&xs) + 2.0 / n as f64);
                    if r > worst.0 {
                        worst = (r, format!("{} at t = {t}", names[e]));
                    }
                }
            }
            worst
        };
        let (sc, wc) = stat(&corrected);
        let (sp, wp) = stat(&printed);
        verdicts.push(sc <= 1.0);
        verdicts.push(sp > 1.0);
        measured.push(format!("d={d}: corrected {sc:.2}, printed {sp:.1}"));
        details.push(format!("- d = {d}: corrected h statistic {sc:.3} (worst {wc}); printed h statistic {sp:.2} (worst {wp})."));
        // Plot z, q1 and P11 for the mean and both ODEs.
        let series = super::overlay(
            &[
                ("z", &|s: &MacroState| s.z),
                ("q1", &|s: &MacroState| s.q[0]),
                ("P11", &|s: &MacroState| s.p[(0, 0)]),
            ],
            &[
                ("sim mean", Style::Dots, &mean_path),
                ("ODE, corrected h", Style::Line, &corrected),
                ("ODE, printed h", Style::Dashed, &printed),
            ],
        );
        plots.push(ctx.plot(
            &format!("ode_general_vs_sim_d{d}"),
            &Figure {
                title: format!(
                    "Finite lambda = {LAMBDA}, eta_T = 1.5, eta_G = 0.5, d = {d}, n = {n}"
                ),
                x_label: "t".into(),
                y_label: "value".into(),
                series,
                ..Figure::default()
            },
        )?);
    }
    let mut out = Outcome::from_verdicts(
        &verdicts,
        measured.join("; "),
        "corrected <= 1 < printed".into(),
    );
    out.details = details;
    out.plots = plots;
    Ok(out)
}

fn reduced_is_large_lambda_limit(ctx: &Ctx) -> Result<Outcome> {
    let t_end = 200.0;
    let lambdas: Vec<f64> = ctx.pick(vec![1e1, 1e2, 1e3], vec![1e1, 1e2, 1e3, 1e4]);
    let inf = fig1_model(5000, 2.0)?;
    let s0 = MacroState::diagonal_start(2, 0.1, 0.1);
    let times: Vec<f64> = (0..=(t_end as usize)).map(|t| t as f64).collect();
    let reduced = solve(&inf, OdeKind::Reduced, &s0, &times, &OdeOptions::default())?;
    let mut devs = Vec::new();
    let mut series = Vec::new();
    for (k, &lambda) in lambdas.iter().enumerate() {
        let m = model(5000, 2, LambdaValue::Number(lambda), 2.0, 2.0, &[5.0, 3.0])?;
        let g = solve(
            &m,
            OdeKind::General(HForm::Corrected),
            &s0,
            &times,
            &OdeOptions::default(),
        )?;
        let dev_t: Vec<f64> = g
            .states
            .iter()
            .zip(&reduced.states)
            .map(|(a, b)| {
                let dq =
                    a.q.iter()
                        .zip(&b.q)
                        .map(|(x, y)| (x - y).abs())
                        .fold(0.0, f64::max);
                a.p.max_abs_diff(&b.p).max(dq)
            })
            .collect();
        devs.push(dev_t.iter().copied().fold(0.0, f64::max));
        series.push(Series {
            label: format!("lambda = {lambda:e}"),
            color: PALETTE[k % PALETTE.len()],
            style: Style::Line,
            points: times
                .iter()
                .copied()
                .zip(dev_t.iter().map(|d| d.max(1e-16).log10()))
                .collect(),
        });
    }
    let lx: Vec<f64> = lambdas.iter().map(|l| l.log10()).collect();
    let ly: Vec<f64> = devs.iter().map(|d| d.log10()).collect();
    // Slope over the two largest lambdas (the asymptotic regime).
    let k = lx.len();
    let (_, slope, _) = linear_fit(&lx[k - 2..], &ly[k - 2..]);
    let monotone = devs.windows(2).all(|w| w[1] < w[0]);
    let mut out = Outcome::from_verdicts(
        &[monotone, (-1.2..=-0.8).contains(&slope)],
        format!(
            "max|dP, dq| at lambda = {:e}: {:.2e}; slope {slope:.3}",
            lambdas[k - 1],
            devs[k - 1]
        ),
        "decreasing in lambda, log-log slope in [-1.2, -0.8]".into(),
    );
    out.details.push(format!(
        "Figure 1 success parameters, T = {t_end}, start on the constraint (z = 1, S_jj = 1, P0 = 0.1 I, q0 = 0.1). \
         For finite lambda, z - 1 and S_jj - 1 are O(1/lambda) (the regulariser balances O(1) forces), so the paths differ by O(1/lambda): \
         the slope of log max-deviation against log lambda must be -1; the band [-1.2, -0.8] allows the next-order term at the two largest lambdas.\n"
    ));
    out.details
        .push("| lambda | max_t max(|P - P_red|, |q - q_red|) |\n|---|---|".into());
    for (l, d) in lambdas.iter().zip(&devs) {
        out.details.push(format!("| {l:e} | {d:.3e} |"));
    }
    out.plots.push(ctx.plot(
        "reduced_is_large_lambda_limit",
        &Figure {
            title: "General ODE (8) vs reduced ODE (13), Figure 1 success".into(),
            x_label: "t".into(),
            y_label: "log10 max(|P - P_red|, |q - q_red|)".into(),
            series,
            ..Figure::default()
        },
    )?);
    Ok(out)
}

fn fig1_phases(ctx: &Ctx) -> Result<Outcome> {
    let n = ctx.pick(2000, 5000);
    let rule = PhaseRule::default();
    let sim_rule = PhaseRule::for_dimension(n);
    let settings = [
        (2.0, 200.0, Phase::Success),
        (1.0, 400.0, Phase::Oscillation),
        (
            4.0,
            200.0,
            Phase::ModeCollapse {
                learned: vec![0],
                missing: vec![1],
            },
        ),
    ];
    let mut verdicts = Vec::new();
    let mut measured = Vec::new();
    let mut out_details = vec![format!(
        "Figure 1 settings (P0 = 0.1 I, q0 = 0.1), simulation at n = {n} (one seed, fast step), reduced ODE from its initial overlaps. \
         Classification rule (hdgan-stability, one function for both): over the last quarter of [0, T], oscillation if RMS |q| >= {} \
         (ODE; {:.3} = 10/sqrt(n) for the simulation, above its O(1/sqrt n) fluctuations), \
         else a feature is learned when its mean cosine max_j |P_lj|/sqrt(S_jj) exceeds its initial value by >= {}.\n\n| eta | expected (Claim 1) | ODE | simulation | ODE q RMS | sim q RMS |\n|---|---|---|---|---|---|",
        rule.q_rms, sim_rule.q_rms, rule.learned_gain
    )];
    let mut plots = Vec::new();
    for (k, (eta, t_end, expected)) in settings.into_iter().enumerate() {
        let m = fig1_model(n, eta)?;
        let predicted = claim1(&m).map(|c| c.predicted);
        let init = InitConfig::diagonal(2, 0.1, 0.1).validate("init", &m)?;
        let sims = simulate(&m, &init, t_end, 1.0, 1, 3000 + k as u64)?;
        let ode = ode_along(&m, OdeKind::Reduced, &sims[0])?;
        // The ODE's long-time phase: classified from T on, extended while unsettled.
        let (co, _, _) = hdgan_stability::classify_ode(
            &m,
            &sims[0].states[0],
            t_end,
            40,
            &rule,
            &OdeOptions::default(),
        )
        .map_err(anyhow::Error::msg)?;
        let cs = classify(&sims[0], &sim_rule).ok_or_else(|| anyhow::anyhow!("empty path"))?;
        verdicts.push(
            predicted.as_ref() == Some(&expected) && co.phase == expected && cs.phase == expected,
        );
        measured.push(format!("eta={eta}: ODE {}, sim {}", co.phase, cs.phase));
        out_details.push(format!(
            "| {eta} | {} | {} | {} | {:.3} | {:.3} |",
            predicted.map(|p| p.to_string()).unwrap_or_default(),
            co.phase,
            cs.phase,
            co.q_rms,
            cs.q_rms
        ));
        plots.push(ctx.plot(
            &format!("fig1_phases_eta{eta}"),
            &figure1(
                &format!("eta_T = eta_G = {eta}, n = {n}"),
                &sims,
                Some(&ode),
            ),
        )?);
    }
    let mut out = Outcome::from_verdicts(
        &verdicts,
        measured.join("; "),
        "all three as expected".into(),
    );
    if out.status == Status::Pass {
        out.details.push(
            "All three settings land in Claim 1's predicted phase, for the ODE and the simulation."
                .into(),
        );
    }
    out.details.splice(0..0, out_details);
    out.plots = plots;
    Ok(out)
}
