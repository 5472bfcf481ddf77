//! `hdgan train-data`.

use super::OutArgs;
use crate::outln;
use crate::progress::{Progress, with_control};
use anyhow::Result;
use hdgan_experiments::train_data::{TrainDataRequest, check_with_data, load, mean_sd, train};
use hdgan_report::write::write_train_data;

/// Runs `hdgan train-data`: checks the flags, loads and prepares the data, checks what
/// needs the data, opens the output folder, trains, writes, prints a summary.
pub fn execute(req: &TrainDataRequest, output: &OutArgs, progress: Progress) -> Result<()> {
    req.check()?;
    let (set, prep) = load(req)?;
    check_with_data(req, &prep)?;
    let staged = output.open(
        None,
        &format!("train-{}", req.dataset.name()),
        Some(&req.path),
    )?;
    let o = with_control(progress, |ctl| train(req, &set, &prep, ctl))?;
    write_train_data(req, &prep, &o, &staged)?;
    outln!("wrote {}", staged.commit()?.display());
    let p = &o.prepared;
    outln!(
        "{}: {} images, n = {}, scale {:.3}; estimated effective spectrum Lam = {:?}",
        req.dataset.name(),
        o.images,
        p.n,
        p.scale,
        p.effective()
            .iter()
            .map(|x| (x * 100.0).round() / 100.0)
            .collect::<Vec<_>>()
    );
    outln!(
        "tau = {}, alpha = {:.3e}, tau~ = {:.3e}, eta_T = 1, eta_G = {}, T = {:.1} ({} steps per run), {:.1} s",
        req.tau,
        o.alpha,
        o.alpha * req.tau,
        req.eta_g,
        o.t_end,
        (p.n as f64 * o.t_end).round(),
        o.seconds
    );
    for r in &o.runs {
        let (ms, ss) = mean_sd(&r.final_sim);
        let (mo, so) = mean_sd(&r.final_ode);
        outln!(
            "final alignment (mean cos of principal angles, last 10%), {:?} (alpha {:.3e}): data {ms:.4} +- {ss:.4}, ODE {mo:.4} +- {so:.4} ({} seeds)",
            r.covariance,
            r.alpha,
            r.final_sim.len()
        );
    }
    Ok(())
}
