//! `hdgan phase` and `hdgan fixed-points`.

use super::OutArgs;
use crate::error::Result;
use crate::outln;
use crate::progress::{Progress, with_control};
use hdgan_experiments::phase::{compute, fixed_points_for, fixed_points_model, prepare_phase};
use hdgan_report::write::write_phase;
use hdgan_stability::{Stability, claim1};
use std::path::Path;

/// Runs `hdgan phase`: checks, computes the map, writes its folder, prints a summary.
pub fn execute(
    path: &Path,
    output: &OutArgs,
    threads: Option<usize>,
    progress: Progress,
) -> Result<()> {
    hdgan_experiments::resources::check_threads(threads)?;
    let v = prepare_phase(path)?;
    crate::print::deprecations(&v.name, &v.model);
    let staged = output.open(v.config.output.dir.as_deref(), &v.name, Some(path))?;
    let r = with_control(progress, |ctl| compute(&v, threads, ctl))?;
    write_phase(&v, &r, threads, &staged)?;
    let out_dir = staged.commit()?;
    outln!("wrote {}", out_dir.display());
    let claim1 = if r.agreement.0 > 0 {
        format!(
            "Claim 1 and ODE agree at {} of {} points",
            r.agreement.1, r.agreement.0
        )
    } else {
        hdgan_report::figures::claim1_legend(&v.model)
    };
    outln!(
        "{} x {} grid, ODE map in {:.2} s; {claim1}",
        r.map.x.count,
        r.map.y.count,
        r.seconds,
    );
    if let Some((n, a)) = r.sim_agreement {
        outln!("simulation and ODE agree at {a} of {n} simulated points");
    }
    Ok(())
}

/// Runs `hdgan fixed-points`: prints Claim 1 and the table of fixed points.
pub fn fixed_points(path: &Path) -> Result<()> {
    let model = fixed_points_model(path)?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    crate::print::deprecations(&name, &model);
    let fps = fixed_points_for(&model);
    if let Some(c) = claim1(&model) {
        outln!(
            "Claim 1: (1/2) max(Lam - Lam~ + alpha Lam~) = {:.4}, tau eta^2 = {:.4}, min Lam = {:.4}; p* = {:?}; predicted: {}",
            c.left,
            c.tau_eta_sq,
            c.right,
            c.p_star,
            c.predicted
        );
        if model.d() > 1 {
            outln!(
                "Locally stable resting points fill the box p*_l <= |P_ll| <= 1, q = r = 0 (when Claim 1's condition holds)."
            );
        }
    }
    outln!(
        "{:<18} {:<34} {:>10}  {:<10} {:<8} eigenvalues (re, im)",
        "kind",
        "state (P diag; q; r)",
        "residual",
        "stability",
        "physical"
    );
    let round = |x: &f64| (x * 1e4).round() / 1e4;
    for fp in &fps {
        let st = &fp.state;
        let state = format!(
            "{:?}; {:?}; {:?}",
            st.p.diag().iter().map(round).collect::<Vec<_>>(),
            st.q.iter().map(round).collect::<Vec<_>>(),
            st.r.iter().map(round).collect::<Vec<_>>()
        );
        let ev = fp
            .eigenvalues
            .iter()
            .map(|(re, im)| {
                if im.abs() > 1e-12 {
                    format!("{re:.4}{im:+.4}i")
                } else {
                    format!("{re:.4}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        outln!(
            "{:<18} {:<34} {:>10.2e}  {:<10} {:<8} {}",
            format!("{:?}", fp.kind),
            state,
            fp.residual,
            match fp.stability {
                Stability::Stable => "stable",
                Stability::Marginal => "marginal",
                Stability::Unstable => "unstable",
            },
            fp.physical,
            ev
        );
    }
    Ok(())
}
