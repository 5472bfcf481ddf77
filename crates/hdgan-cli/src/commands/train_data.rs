//! `hdgan train-data`.

use super::OutArgs;
use crate::error::Result;
use crate::outln;
use crate::progress::{Progress, with_control};
use hdgan_experiments::train_data::{
    MethodRun, TrainDataRequest, check_with_data, load, mean_sd, method_groups, train,
};
use hdgan_report::write::write_train_data;

/// Runs `hdgan train-data`: checks the flags, loads and prepares the data, checks what
/// needs the data, opens the output folder, trains, writes, prints a summary.
pub fn execute(req: &TrainDataRequest, output: &OutArgs, progress: Progress) -> Result<()> {
    req.check()?;
    let data = load(req)?;
    check_with_data(req, &data.prep)?;
    let staged = output.open(
        None,
        &format!("train-{}", req.dataset.name()),
        Some(&req.path),
    )?;
    let o = with_control(progress, |ctl| train(req, &data, ctl))?;
    write_train_data(req, &data.prep, &o, &staged)?;
    outln!("wrote {}", staged.commit()?.display());
    let p = &o.prepared;
    outln!(
        "{}: {} training images ({} held out), n = {}, scale {:.3}; estimated effective spectrum Lam = {:?}",
        req.dataset.name(),
        o.images,
        o.holdout,
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
    for (method, runs) in method_groups(&o.methods) {
        let last = |r: &&MethodRun| *r.curve.grassmann.last().unwrap_or(&f64::NAN);
        let recon = |r: &&MethodRun| *r.recon.last().unwrap_or(&f64::NAN);
        let g: Vec<f64> = runs.iter().map(last).collect();
        let e: Vec<f64> = runs.iter().map(recon).collect();
        let us: Vec<f64> = runs.iter().map(|r| r.seconds_per_sample() * 1e6).collect();
        let ((gm, gs), (em, es), (um, _)) = (mean_sd(&g), mean_sd(&e), mean_sd(&us));
        outln!(
            "{method:<16} final Grassmann distance {gm:.4} +- {gs:.4}, held-out reconstruction error {em:.4} +- {es:.4}, {um:.2} us per sample ({} seeds)",
            runs.len()
        );
    }
    Ok(())
}
