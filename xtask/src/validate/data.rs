//! Real data (THEORY §8): the linear GAN on MNIST and Fashion-MNIST, informed vs isotropic
//! generator covariance, and the ODE from the estimated spectrum beside the data curves.

use super::{Check, Ctx, Outcome, Status};
use crate::stats::{mean, z_means};
use anyhow::Result;
use hdgan_data::Dataset;
use hdgan_experiments::train_data::{
    AlignmentCurve, CovarianceRuns, TrainDataRequest, load, mean_sd, train,
};
use hdgan_model::FromData;
use hdgan_report::figures::alignment_panels;
use std::path::PathBuf;

pub(super) fn checks() -> Vec<Check> {
    vec![Check {
        name: "informed_beats_isotropic",
        claim: "On MNIST and Fashion-MNIST (top-2 principal subspace, 5 seeds), the generator with the informed latent covariance diag(Lam) ends better aligned with the data's principal subspace than one with the standard isotropic latent N(0, I) at the same generator speed, and the ODE from the estimated spectrum predicts the same ranking; the power-matched isotropic latent ((tr Lam / d) I) and the ODE's tracking of the data curves are reported.",
        run: informed_beats_isotropic,
    }]
}

/// The data folder: `$HDGAN_DATA` (the check skips, saying why, when it is unset or
/// absent).
fn data_dir() -> PathBuf {
    std::env::var_os("HDGAN_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("$HDGAN_DATA (unset)"))
}

fn name(c: FromData) -> &'static str {
    match c {
        FromData::Informed => "informed diag(Lam)",
        FromData::Isotropic => "isotropic (tr Lam / d) I",
        FromData::Standard => "standard isotropic N(0, I)",
    }
}

/// Seed-mean curve of `curves` (mean cosine) at each recorded time.
fn mean_curve(curves: &[AlignmentCurve]) -> Vec<f64> {
    (0..curves[0].t.len())
        .map(|k| mean(&curves.iter().map(|a| a.mean_cos[k]).collect::<Vec<_>>()))
        .collect()
}

/// How the ODE tracks the data: max |data mean - ODE mean| over the run, and the first
/// time it exceeds 0.1 (None if never).
fn tracking(r: &CovarianceRuns) -> (f64, Option<f64>) {
    let (data, ode) = (mean_curve(&r.sim_alignment), mean_curve(&r.ode_alignment));
    let t = &r.sim_alignment[0].t;
    let mut worst: f64 = 0.0;
    let mut first = None;
    for k in 0..t.len() {
        let gap = (data[k] - ode[k]).abs();
        worst = worst.max(gap);
        if gap > 0.1 && first.is_none() {
            first = Some(t[k]);
        }
    }
    (worst, first)
}

fn informed_beats_isotropic(ctx: &Ctx) -> Result<Outcome> {
    let dir = data_dir();
    if !dir.is_dir() {
        return Ok(Outcome {
            status: Status::Skip,
            measured: format!(
                "skipped: {} is absent (set HDGAN_DATA to the folder with the IDX files)",
                dir.display()
            ),
            tolerance: "-".into(),
            details: Vec::new(),
            plots: Vec::new(),
        });
    }
    let mut verdicts = Vec::new();
    let mut measured = Vec::new();
    let mut details = vec![
        "`hdgan train-data --dataset DATASET --path $HDGAN_DATA` with its defaults: d = 2, tau = 0.2, eta_G = 3 (the bulk is scaled to \
         eta_T = 1), alpha = tau eta^2 / Lam_1 (mid-interval for the informed generator's top mode), T = 40 / (tau~ Lam_d), 5 seeds, \
         random unit initial columns (the same for every covariance at a given seed). Generator rates give every covariance the same \
         generator speed tau~ tr(Lam~) / d, so N(0, I) is not merely slower. Final alignment: mean cosine of the principal angles between \
         span(V) and the top-2 principal subspace, averaged over the last 10% of the run. Verdict per dataset: informed beats standard \
         isotropic by a one-sided Welch z > 3 on the 5 + 5 seeds (t with >= 4 dof: p < 0.02), and the ODE from the estimated spectrum \
         ranks them the same way (by more than 0.1).\n"
            .to_owned(),
    ];
    let mut plots = Vec::new();
    let seeds = ctx.pick(5, 5);
    for ds in [Dataset::Mnist, Dataset::FashionMnist] {
        let mut req = TrainDataRequest::new(ds, dir.clone());
        req.seeds = seeds;
        let data = load(&req)?;
        let o = train(&req, &data, hdgan_experiments::Control::default())?;
        let prep = &data.prep;
        let by = |c: FromData| o.runs.iter().find(|r| r.covariance == c);
        let (Some(inf), Some(iso), Some(std)) = (
            by(FromData::Informed),
            by(FromData::Isotropic),
            by(FromData::Standard),
        ) else {
            anyhow::bail!("train-data did not run all three covariances");
        };
        let z_std = z_means(&inf.final_sim, &std.final_sim);
        let z_iso = z_means(&inf.final_sim, &iso.final_sim);
        let ode_gap = mean(&inf.final_ode) - mean(&std.final_ode);
        verdicts.push(z_std > 3.0);
        verdicts.push(ode_gap > 0.1);
        let (mi, si) = mean_sd(&inf.final_sim);
        let (ms, ss) = mean_sd(&std.final_sim);
        let (mp, sp) = mean_sd(&iso.final_sim);
        measured.push(format!(
            "{}: informed {mi:.3}+-{si:.3} vs N(0,I) {ms:.3}+-{ss:.3} (z {z_std:.1}); vs power-matched {mp:.3}+-{sp:.3} (z {z_iso:.1})",
            ds.name()
        ));
        details.push(format!(
            "\n**{}** ({} images, n = {}, estimated Lam = [{:.1}, {:.1}], bulk scale {:.2}; base alpha = {:.3e}, T = {:.0}, {} steps per run, {:.0} s):\n\n\
             | generator latent | alpha | final alignment, data (mean +- sd, {seeds} seeds) | ODE (mean +- sd) | ODE tracks data: max gap | first t with gap > 0.1 |\n|---|---|---|---|---|---|",
            ds.name(),
            o.images,
            prep.n,
            prep.effective()[0],
            prep.effective()[1],
            prep.scale,
            o.alpha,
            o.t_end,
            (prep.n as f64 * o.t_end).round(),
            o.seconds
        ));
        for r in [inf, iso, std] {
            let (m, s) = mean_sd(&r.final_sim);
            let (mo, so) = mean_sd(&r.final_ode);
            let (gap, first) = tracking(r);
            details.push(format!(
                "| {} | {:.3e} | {m:.4} +- {s:.4} | {mo:.4} +- {so:.4} | {gap:.3} | {} |",
                name(r.covariance),
                r.alpha,
                first.map_or("never".to_owned(), |t| format!("{t:.0}"))
            ));
        }
        details.push(format!(
            "\nInformed vs N(0, I): z = {z_std:.1}, ODE gap {ode_gap:.3}. Informed vs power-matched isotropic: z = {z_iso:.2} (reported, not asserted)."
        ));
        plots.push(ctx.plot_panels(
            &format!("informed_beats_isotropic_{}", ds.name().replace('-', "_")),
            &alignment_panels(&format!("{} (d = 2)", ds.name()), &o),
            2,
        )?);
    }
    details.push(
        "\n**Reading.** The standard latent N(0, I) has total power d, far below the data's (Lam ~ 10^2 in bulk units), so the generator \
         cannot match the top mode; the discriminator stays on it and the ODE collapses both generator columns onto it (mean cosine 0.5); \
         the data runs fluctuate around that collapse. The power-matched isotropic latent is as good as the informed one in the long run: \
         with d >= 2 the generator matches the within-subspace covariance by tilting its unit columns (the mixed-column rest seen in \
         claim1_boundaries and signal_boosting), so the subspace is recovered although its top mode is outside the mode-wise interval; the \
         ODE predicts this tie and the data agree (|z| small). The ODE tracks the data through the first mode's learning; on MNIST the \
         data slow down once the second mode competes with the third principal direction (Lam_3 ~ Lam_2: the bulk is not flat, which the \
         model assumes), and the ODE's end state (~0.99) overestimates the data's (~0.90); on Fashion-MNIST (a clear gap to Lam_3) the \
         ODE tracks the data to the end."
            .into(),
    );
    let mut out = Outcome::from_verdicts(
        &verdicts,
        measured.join("; "),
        "informed > N(0, I) by one-sided z > 3 and the ODE agrees (gap > 0.1), per dataset".into(),
    );
    out.details = details;
    out.plots = plots;
    Ok(out)
}
