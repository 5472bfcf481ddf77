//! The figures of every experiment, as [`Figure`] / [`CellMap`] values that
//! [`crate::plot`] renders to SVG and PNG.

use crate::plot::{CellMap, Figure, PALETTE, Series, Style};
use hdgan_core::{MacroState, MultiState, Trajectory};
use hdgan_experiments::measure::Snapshot;
use hdgan_experiments::train_data::{
    AlignmentCurve, MethodRun, TrainDataOutcome, cov_name, method_groups,
};
use hdgan_model::Model;
use hdgan_stability::{EffectiveModes, Fluctuations, Phase, PhaseMap, claim1, claim1_boundaries};

/// The Figure 1 plot: cosines `P_ii / sqrt(S_ii)` and `|q_i| / sqrt(z)` over time, ODE as
/// curves, simulation as dots. `q` is shown by magnitude: the ODE is symmetric under
/// `(q, r) -> (-q, -r)`, and when the discriminator leaves `q ~ 0` (between the learning of
/// two features) the sign it picks is set by O(1/sqrt n) fluctuations.
pub fn figure1(title: &str, sim: &[Trajectory], ode: Option<&Trajectory>) -> Figure {
    cosine_figure(title, sim, ode, &|i| {
        (
            format!("P{0}{0}/sqrt(S{0}{0})", i + 1),
            format!("|q{}|", i + 1),
        )
    })
}

/// [`figure1`] with other legend names: `names(i)` gives the labels of the i-th
/// (0-based) cosine `P_ii / sqrt(S_ii)` and of `|q_i| / sqrt(z)`.
pub fn cosine_figure(
    title: &str,
    sim: &[Trajectory],
    ode: Option<&Trajectory>,
    names: &dyn Fn(usize) -> (String, String),
) -> Figure {
    let d = sim
        .first()
        .and_then(Trajectory::d)
        .or_else(|| ode.and_then(Trajectory::d))
        .unwrap_or(0);
    let mut series = Vec::new();
    for i in 0..d {
        let color = PALETTE[i % PALETTE.len()];
        let p = move |s: &MacroState| s.p_cosine(i, i);
        let q = move |s: &MacroState| s.q_cosine(i).abs();
        let (pn, qn) = names(i);
        if let Some(o) = ode {
            series.push(Series {
                label: format!("{pn} ODE"),
                color,
                style: Style::Line,
                points: o.points(p),
            });
            series.push(Series {
                label: format!("{qn} ODE"),
                color,
                style: Style::Dashed,
                points: o.points(q),
            });
        }
        for (m, t) in sim.iter().enumerate() {
            let first = m == 0;
            series.push(Series {
                label: if first {
                    format!("{pn} sim")
                } else {
                    String::new()
                },
                color,
                style: Style::Dots,
                points: t.points(p),
            });
            series.push(Series {
                label: if first {
                    format!("{qn} sim")
                } else {
                    String::new()
                },
                color,
                style: Style::Crosses,
                points: t.points(q),
            });
        }
    }
    Figure {
        title: title.to_owned(),
        x_label: "t = k / n".into(),
        y_label: "cosine".into(),
        x_range: None,
        y_range: Some((-0.02, 1.02)),
        series,
    }
}

/// The standard deviation at size `n` of Figure 1's plotted cosines along the LNA's path, by
/// the delta method: for each feature i, `(sd of P_ii / sqrt(S_ii), sd of |q_i| / sqrt(z))`
/// per output time.
pub fn cosine_sd(fl: &Fluctuations, n: usize) -> Vec<(Vec<f64>, Vec<f64>)> {
    let d = fl.mean.states.first().map_or(0, MacroState::d);
    let len = MacroState::packed_len(d);
    let (dd, z) = (d * d, 2 * d * d + 2 * d);
    (0..d)
        .map(|i| {
            let p_sd = fl.sd_of(n, |s| {
                let mut g = vec![0.0; len];
                let sii = s.s[(i, i)];
                g[i * d + i] = 1.0 / sii.sqrt();
                g[dd + 2 * d + i * d + i] = -s.p[(i, i)] / (2.0 * sii.powf(1.5));
                g
            });
            let q_sd = fl.sd_of(n, |s| {
                let mut g = vec![0.0; len];
                g[dd + i] = s.q[i].signum() / s.z.sqrt();
                g[z] = -s.q[i].abs() / (2.0 * s.z.powf(1.5));
                g
            });
            (p_sd, q_sd)
        })
        .collect()
}

/// `hdgan escape`'s figure: the diffusion's mean escape time against log10 n with its
/// +- 1 sd band, the saddle law's mean +- sd (dashed) where it applies, and the ODE's own
/// escape time (a level line) where the ODE escapes.
pub fn escape_figure(title: &str, run: &hdgan_experiments::escape::EscapeRun) -> Figure {
    let x: Vec<f64> = run.rows.iter().map(|r| r.n.log10()).collect();
    let mean: Vec<f64> = run.rows.iter().map(|r| r.stats.mean).collect();
    let sd: Vec<f64> = run.rows.iter().map(|r| r.stats.sd).collect();
    let mut series = Vec::new();
    if x.len() > 1 {
        let lower: Vec<f64> = mean.iter().zip(&sd).map(|(m, s)| m - s).collect();
        let upper: Vec<f64> = mean.iter().zip(&sd).map(|(m, s)| m + s).collect();
        series.push(Series {
            label: "diffusion: mean +- sd".into(),
            color: PALETTE[1],
            style: Style::Band,
            points: crate::plot::band(&x, &lower, &upper),
        });
    }
    series.push(Series {
        label: "diffusion dM = F dt + sqrt(D/n) dW: mean".into(),
        color: PALETTE[1],
        style: Style::Dots,
        points: x.iter().copied().zip(mean.iter().copied()).collect(),
    });
    let (lo, hi) = x
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
    if let Some(law) = &run.law {
        for (sign, label) in [
            (0.0, "saddle law: mean"),
            (1.0, "saddle law: mean +- sd"),
            (-1.0, ""),
        ] {
            series.push(Series {
                label: label.into(),
                color: PALETTE[0],
                style: Style::Dashed,
                points: [lo, hi]
                    .iter()
                    .map(|e| (*e, law.mean(10f64.powf(*e)) + sign * law.sd()))
                    .collect(),
            });
        }
    }
    if let Some(t) = run.ode_escape {
        series.push(Series {
            label: "the ODE's own escape".into(),
            color: PALETTE[2],
            style: Style::Line,
            points: vec![(lo, t), (hi, t)],
        });
    }
    Figure {
        title: format!(
            "{title}: time to |q{}| = {}",
            run.request.feature, run.request.threshold
        ),
        x_label: "log10 n".into(),
        y_label: "escape time".into(),
        x_range: (hi > lo).then_some((lo - 0.2, hi + 0.2)),
        y_range: None,
        series,
    }
}

/// Adds the linear-noise band (THEORY §10) to a [`figure1`]: for every plotted cosine the
/// area ODE +- 2 sd at size `n` (`|q_i|`'s lower edge clipped at 0), drawn under the
/// curves in the curve's colour.
pub fn add_band(fig: &mut Figure, fl: &Fluctuations, n: usize) {
    let t = &fl.mean.times;
    let mut bands = Vec::new();
    for (i, (p_sd, q_sd)) in cosine_sd(fl, n).into_iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let p: Vec<f64> = fl.mean.series(|s| s.p_cosine(i, i));
        let q: Vec<f64> = fl.mean.series(|s| s.q_cosine(i).abs());
        for (k, (mid, sd)) in [(p, p_sd), (q, q_sd)].into_iter().enumerate() {
            let lower: Vec<f64> = mid
                .iter()
                .zip(&sd)
                .map(|(m, s)| {
                    if k == 1 {
                        (m - 2.0 * s).max(0.0)
                    } else {
                        m - 2.0 * s
                    }
                })
                .collect();
            let upper: Vec<f64> = mid.iter().zip(&sd).map(|(m, s)| m + 2.0 * s).collect();
            bands.push(Series {
                label: if i == 0 && k == 0 {
                    format!("ODE +- 2 sd at n = {n} (LNA)")
                } else {
                    String::new()
                },
                color,
                style: Style::Band,
                points: crate::plot::band(t, &lower, &upper),
            });
        }
    }
    bands.append(&mut fig.series);
    fig.series = bands;
}

/// The multi-feature run plot: generator cosines `P_ii / sqrt(S_ii)`, discriminator
/// cosines `|Q_ik| / sqrt(Z_kk)` and the cosine between discriminator columns
/// `Z_kl / sqrt(Z_kk Z_ll)`; ODE as curves, simulation as dots.
pub fn multi_figure(
    title: &str,
    sim: &[Trajectory<MultiState>],
    ode: Option<&Trajectory<MultiState>>,
) -> Figure {
    let first = sim.first().or(ode).and_then(|t| t.states.first());
    let (d, p) = first.map_or((0, 0), |s| (s.d(), s.p_features()));
    type Quantity = (String, Box<dyn Fn(&MultiState) -> f64>);
    let mut quantities: Vec<Quantity> = Vec::new();
    for i in 0..d {
        quantities.push((
            format!("P{0}{0}/sqrt(S{0}{0})", i + 1),
            Box::new(move |s: &MultiState| s.p_cosine(i, i)),
        ));
    }
    for i in 0..d {
        for k in 0..p {
            quantities.push((
                format!("|Q{}{}|/sqrt(Z{2}{2})", i + 1, k + 1, k + 1),
                Box::new(move |s: &MultiState| s.q_cosine(i, k).abs()),
            ));
        }
    }
    for k in 0..p {
        for l in k + 1..p {
            quantities.push((
                format!("Z{}{}/sqrt(Z{0}{0} Z{1}{1})", k + 1, l + 1),
                Box::new(move |s: &MultiState| s.z[(k, l)] / (s.z[(k, k)] * s.z[(l, l)]).sqrt()),
            ));
        }
    }
    let mut series = Vec::new();
    for (qi, (name, f)) in quantities.iter().enumerate() {
        let color = PALETTE[qi % PALETTE.len()];
        if let Some(o) = ode {
            series.push(Series {
                label: format!("{name} ODE"),
                color,
                style: Style::Line,
                points: o.points(f),
            });
        }
        for (m, t) in sim.iter().enumerate() {
            series.push(Series {
                label: if m == 0 {
                    format!("{name} sim")
                } else {
                    String::new()
                },
                color,
                style: Style::Dots,
                points: t.points(f),
            });
        }
    }
    Figure {
        title: title.to_owned(),
        x_label: "t = k / n".into(),
        y_label: "cosine".into(),
        x_range: None,
        y_range: Some((-1.02, 1.02)),
        series,
    }
}

/// The phases a map can contain, in legend order, with their colours.
fn phase_style(p: &Phase, d: usize) -> (String, (u8, u8, u8)) {
    match p {
        Phase::Success => ("success".into(), (0, 158, 115)),
        Phase::Oscillation => ("oscillation".into(), (230, 159, 0)),
        Phase::Failure => ("failure".into(), (150, 150, 150)),
        Phase::ModeCollapse { learned, .. } => {
            // Blues, darker with more features learned.
            let k = learned.len() as f64 / d.max(1) as f64;
            let c = (
                86.0 + (0.0 - 86.0) * k,
                180.0 + (114.0 - 180.0) * k,
                233.0 + (178.0 - 233.0) * k,
            );
            (p.to_string(), (c.0 as u8, c.1 as u8, c.2 as u8))
        }
    }
}

/// The legend entry for Claim 1's boundaries on a phase map of `base`: their label, or why
/// none are drawn.
pub fn claim1_legend(base: &Model) -> String {
    if base.loss() != hdgan_model::Loss::Quadratic {
        format!(
            "no Claim 1 boundaries: its closed form holds for the quadratic loss only (this map: {})",
            base.loss()
        )
    } else if claim1(base).is_none() {
        "no Claim 1 boundaries: it needs diagonal latent second moments".into()
    } else {
        "Claim 1 boundaries".into()
    }
}

/// A colour halfway to white: the shade of a verdict that had not settled.
fn pale((r, g, b): (u8, u8, u8)) -> (u8, u8, u8) {
    let f = |c: u8| ((c as u16 + 255) / 2) as u8;
    (f(r), f(g), f(b))
}

/// Builds the phase-diagram figure of `map` (ODE phases, Claim 1 boundaries, markers).
/// Every colour has a legend entry: a verdict that had not settled at the longest horizon
/// is drawn in a paler shade of its phase's colour, labelled "(not settled)".
pub fn phase_figure(
    title: &str,
    base: &Model,
    map: &PhaseMap,
    markers: Vec<(f64, f64, String)>,
) -> CellMap {
    let (hx, hy) = (map.x.step() / 2.0, map.y.step() / 2.0);
    let d = base.d();
    let mut legend: Vec<(String, (u8, u8, u8))> = Vec::new();
    let mut cells = Vec::with_capacity(map.cells.len());
    for c in &map.cells {
        let (label, color) = match (c.ode.as_ref().map(|s| &s.phase), c.ode_settled) {
            (Some(p), true) => phase_style(p, d),
            (Some(p), false) => {
                let (l, col) = phase_style(p, d);
                (format!("{l} (not settled)"), pale(col))
            }
            (None, _) => ("ODE failed".into(), (200, 0, 0)),
        };
        if !legend.iter().any(|(l, _)| *l == label) {
            legend.push((label, color));
        }
        cells.push(((c.x - hx, c.y - hy, c.x + hx, c.y + hy), color));
    }
    legend.sort_by(|a, b| a.0.cmp(&b.0));
    CellMap {
        title: title.to_owned(),
        x_label: map.x.param.label().into(),
        y_label: map.y.param.label().into(),
        x_range: (map.x.min - hx, map.x.max + hx),
        y_range: (map.y.min - hy, map.y.max + hy),
        cells,
        segments: claim1_boundaries(base, &map.x, &map.y, 4),
        segments_label: claim1_legend(base),
        legend,
        markers,
    }
}

/// The Figure 2 panels: the point cloud `(v^, w^)` with the 1-, 2-, 3-sigma ellipses.
pub fn figure2_panels(snaps: &[Snapshot]) -> Vec<Figure> {
    snaps
        .iter()
        .map(|s| {
            let mut series = vec![Series {
                label: "simulation rows".into(),
                color: PALETTE[0],
                style: Style::Points,
                points: s.rows.iter().map(|r| (r[0], r[1])).collect(),
            }];
            for k in 1..=3 {
                series.push(Series {
                    label: if k == 1 {
                        "PDE: 1, 2, 3 sigma".into()
                    } else {
                        String::new()
                    },
                    color: PALETTE[1],
                    style: Style::Line,
                    points: s.predicted.ellipse(k as f64, 120),
                });
            }
            Figure {
                title: format!("t = {}", s.t),
                x_label: "v^ = sqrt(n) V_i1".into(),
                y_label: "w^ = sqrt(n) w_i".into(),
                x_range: Some((-4.0, 4.0)),
                y_range: Some((-4.0, 4.0)),
                series,
            }
        })
        .collect()
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

/// Two panels: mean cosine and Grassmann distance over time, each covariance's runs as
/// dots and the ODE (mean over the seeds' starts) as a line.
pub fn alignment_panels(title: &str, outcome: &TrainDataOutcome) -> Vec<Figure> {
    let mut panels = Vec::new();
    for (what, pick) in [
        (
            "mean cosine of principal angles",
            (|a: &AlignmentCurve, k: usize| a.mean_cos[k]) as fn(&AlignmentCurve, usize) -> f64,
        ),
        ("Grassmann distance", |a: &AlignmentCurve, k: usize| {
            a.grassmann[k]
        }),
    ] {
        let mut series = Vec::new();
        for (ci, r) in outcome.runs.iter().enumerate() {
            let color = PALETTE[ci % PALETTE.len()];
            let name = cov_name(r.covariance);
            for (s, a) in r.sim_alignment.iter().enumerate() {
                series.push(Series {
                    label: if s == 0 {
                        format!("{name}: data runs")
                    } else {
                        String::new()
                    },
                    color,
                    style: Style::Dots,
                    points: (0..a.t.len()).map(|k| (a.t[k], pick(a, k))).collect(),
                });
            }
            if let Some(first) = r.ode_alignment.first() {
                let m = r.ode_alignment.len() as f64;
                series.push(Series {
                    label: format!("{name}: ODE from the estimated spectrum"),
                    color,
                    style: Style::Line,
                    points: (0..first.t.len())
                        .map(|k| {
                            (
                                first.t[k],
                                r.ode_alignment.iter().map(|a| pick(a, k)).sum::<f64>() / m,
                            )
                        })
                        .collect(),
                });
            }
        }
        panels.push(Figure {
            title: format!("{title}: {what}"),
            x_label: "t = k / n".into(),
            y_label: what.into(),
            x_range: None,
            y_range: None,
            series,
        });
    }
    panels
}

/// Every method of a train-data run side by side: the Grassmann distance to the reference
/// and the held-out reconstruction error over time, mean over seeds (line) and mean +- sd
/// (dashed).
pub fn method_panels(title: &str, methods: &[MethodRun]) -> Vec<Figure> {
    let groups = method_groups(methods);
    let mut panels = Vec::new();
    for (what, pick) in [
        (
            "Grassmann distance to the PCA reference",
            (|r: &MethodRun, k: usize| r.curve.grassmann[k]) as fn(&MethodRun, usize) -> f64,
        ),
        (
            "held-out reconstruction error",
            |r: &MethodRun, k: usize| r.recon[k],
        ),
    ] {
        let mut series = Vec::new();
        for (gi, (name, runs)) in groups.iter().enumerate() {
            let color = PALETTE[gi % PALETTE.len()];
            let t = &runs[0].curve.t;
            let stats: Vec<(f64, f64, f64)> = (0..t.len())
                .map(|k| {
                    let x: Vec<f64> = runs.iter().map(|r| pick(r, k)).collect();
                    let (m, sd) = hdgan_experiments::train_data::mean_sd(&x);
                    (t[k], m, sd)
                })
                .collect();
            series.push(Series {
                label: format!("{name} ({} seeds)", runs.len()),
                color,
                style: Style::Line,
                points: stats.iter().map(|&(t, m, _)| (t, m)).collect(),
            });
            if runs.len() > 1 {
                for sign in [-1.0, 1.0] {
                    series.push(Series {
                        label: String::new(),
                        color,
                        style: Style::Dashed,
                        points: stats.iter().map(|&(t, m, sd)| (t, m + sign * sd)).collect(),
                    });
                }
            }
        }
        panels.push(Figure {
            title: format!("{title}: {what}"),
            x_label: "t = samples / n".into(),
            y_label: what.into(),
            x_range: None,
            y_range: None,
            series,
        });
    }
    panels
}

/// Upper end of mode l's interval: `lam <= 2 tau eta^2 + (1 - alpha) lam~`.
pub fn upper_end(m: &EffectiveModes, l: usize) -> f64 {
    2.0 * m.tau_eta_sq + (1.0 - m.alpha) * m.modes[l].lam_tilde
}
