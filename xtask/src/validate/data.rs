//! Real data (THEORY §8): the linear GAN on MNIST and Fashion-MNIST, informed vs isotropic
//! generator covariance, and the ODE from the estimated spectrum beside the data curves.

use super::{Check, Ctx, Outcome, Status};
use crate::stats::{mean, se, z_means};
use anyhow::Result;
use hdgan_data::Dataset;
use hdgan_experiments::train_data::{
    AlignmentCurve, CovarianceRuns, TrainDataOutcome, TrainDataRequest, cov_name, data_model, load,
    mean_sd, train,
};
use hdgan_micro_sim::{DEFAULT_BLOWUP, InitConfig, MultiSgda, RunControl, Schedule, run_ensemble};
use hdgan_model::{Constraint, FromData};
use hdgan_report::figures::{alignment_panels, method_panels};
use hdgan_subspace::TrackerKind;
use std::path::PathBuf;

pub(super) fn checks() -> Vec<Check> {
    vec![
        Check {
            name: "informed_beats_isotropic",
            claim: "On MNIST and Fashion-MNIST (top-2 principal subspace, 5 seeds), the generator with the informed latent covariance diag(Lam) ends better aligned with the data's principal subspace than one with the standard isotropic latent N(0, I) at the same generator speed, and the ODE from the estimated spectrum predicts the same ranking; the power-matched isotropic latent ((tr Lam / d) I) and the ODE's tracking of the data curves are reported.",
            run: informed_beats_isotropic,
        },
        Check {
            name: "multi_feature_real_data",
            claim: "On MNIST and Fashion-MNIST with a p = d = 16 feature discriminator (W and V orthonormal, tau = 1, every informed mode inside its solvable interval), the informed and standard latents end in the order the multi-feature ODE from the estimated spectrum predicts (final Grassmann distance to the top-16 principal subspace, Welch z > 3), and the informed GAN's distance from that ODE is a finite-size effect of the model, not of the images: the planted Gaussian model with the estimated spectrum at the same n ends much nearer the data than the ODE does. Data vs planted z for every latent and Oja's rule on the same streams are reported.",
            run: multi_feature_real_data,
        },
    ]
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

/// The outcome of a check that needs `$HDGAN_DATA` when it is absent.
fn skipped(dir: &std::path::Path) -> Outcome {
    Outcome {
        status: Status::Skip,
        measured: format!(
            "skipped: {} is absent (set HDGAN_DATA to the folder with the IDX files)",
            dir.display()
        ),
        tolerance: "-".into(),
        details: Vec::new(),
        plots: Vec::new(),
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
        return Ok(skipped(&dir));
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

/// Final Grassmann distances (mean over the last 10% of the records), one per seed, of
/// the method runs named `method`.
fn final_distances(o: &TrainDataOutcome, method: &str) -> Result<Vec<f64>> {
    let d: Vec<f64> = o
        .methods
        .iter()
        .filter(|r| r.method == method)
        .map(|r| r.curve.final_grassmann(0.1))
        .collect();
    anyhow::ensure!(!d.is_empty(), "train-data did not run {method}");
    Ok(d)
}

/// One generator latent of `multi_feature_real_data`: final distances of the data runs,
/// of the planted model's runs from the same starts, and of the ODE.
struct LatentLeg {
    covariance: FromData,
    data: Vec<f64>,
    planted: Vec<f64>,
    ode: Vec<f64>,
}

/// The planted model of a data run: the same n, d, p and rates, Gaussian samples with the
/// data's estimated spectrum over a flat unit bulk, one run per data seed from that seed's
/// initial overlaps; final Grassmann distances.
fn planted_runs(
    req: &TrainDataRequest,
    data: &hdgan_experiments::train_data::Loaded,
    o: &TrainDataOutcome,
    r: &CovarianceRuns,
    seed: u64,
) -> Result<Vec<f64>> {
    let m = data_model(req, &data.prep, o.alpha, r.covariance)?;
    let inits = r
        .sims
        .iter()
        .map(|t| {
            let s0 = &t.states[0];
            let q = s0.q.to_rows();
            let ic = InitConfig {
                p0: s0.p.to_rows(),
                q0: q.iter().map(|row| row[0]).collect(),
                q0_cols: Some(q),
                ..InitConfig::diagonal(m.d(), 0.0, 0.0)
            };
            ic.validate("init", &m)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let schedule = Schedule::from_times(m.n(), o.t_end, o.t_end / 40.0)?;
    let sims = run_ensemble(
        inits.len(),
        seed,
        |i, rng| MultiSgda::new(&m, &inits[i], DEFAULT_BLOWUP, rng),
        &schedule,
        RunControl::default(),
    )?;
    Ok(sims
        .iter()
        .map(|t| AlignmentCurve::of_sim(t).final_grassmann(0.1))
        .collect())
}

fn multi_feature_real_data(ctx: &Ctx) -> Result<Outcome> {
    let dir = data_dir();
    if !dir.is_dir() {
        return Ok(skipped(&dir));
    }
    let seeds = ctx.pick(4, 6);
    let t_end = ctx.pick(6.0, 20.0);
    let d = 16;
    let tau = 1.0;
    let mut verdicts = Vec::new();
    let mut measured = Vec::new();
    let mut details = vec![format!(
        "`hdgan train-data --dataset DATASET --path $HDGAN_DATA --d {d} --p {d} --tau {tau} --constraint orthonormal --t-end {t_end} --seeds {seeds} --baselines oja` \
         (W and V orthonormal, as in Bond & Dogan's code: with p = d the column-normalised model's discriminator columns collapse onto \
         few directions, the instability anchor_setting shows at d = 2, and its runs stall; eta_G = 3, alpha = tau eta^2 / Lam_1: the informed generator's top mode mid-interval and, at this tau, every one of its 16 modes \
         inside its interval; the three generator latents; random unit initial columns shared by every method at a seed; the same \
         shuffled stream for the GAN and Oja's rule at a seed). Beside each data run, the **planted model** at the same n: Gaussian \
         samples y = U c + a with c ~ N(0, diag(Lam)) from the data's estimated spectrum over a flat unit bulk, the same rates and \
         latent, from the data run's initial overlaps. Final distance: Grassmann distance between span(V) and the top-{d} principal \
         subspace (U for the planted model), mean over the last 10% of the records; a random {d}-dimensional start is at about 5.8.\n\n\
         Asserted per dataset: (a) the informed and standard latents rank on the images as the ODE from the estimated spectrum ranks \
         them (Welch z > 3 in the ODE's direction; at equal generator speed tr(Lam~) tau~ / d and with V orthonormal, N(0, I)'s larger \
         rate makes it the faster one here); (b) the informed GAN's distance from its ODE is a finite-size effect of the model, not \
         of the images: |data - planted| + 3 SE < |data - ODE|. Reported: data vs planted z for each latent (the planted model is the \
         data's second moment over a flat bulk; the images' bulk beyond the top 16 is not flat, and with 6 seeds at T = 20 the data \
         run a few percent behind the planted model, |z| up to ~4), the ODE, and Oja's rule.\n"
    )];
    let mut plots = Vec::new();
    for (di, ds) in [Dataset::Mnist, Dataset::FashionMnist]
        .into_iter()
        .enumerate()
    {
        let mut req = TrainDataRequest::new(ds, dir.clone());
        req.d = d;
        req.p = d;
        req.tau = tau;
        req.t_end = Some(t_end);
        req.seeds = seeds;
        req.constraint = Constraint::Orthonormal;
        req.baselines = vec![TrackerKind::Oja];
        let data = load(&req)?;
        let o = train(&req, &data, hdgan_experiments::Control::default())?;
        let mut legs = Vec::new();
        for (ci, r) in o.runs.iter().enumerate() {
            legs.push(LatentLeg {
                covariance: r.covariance,
                data: final_distances(&o, &format!("gan-{}", cov_name(r.covariance)))?,
                planted: planted_runs(&req, &data, &o, r, 9400 + 10 * di as u64 + ci as u64)?,
                ode: r
                    .ode_alignment
                    .iter()
                    .map(|a| a.final_grassmann(0.1))
                    .collect(),
            });
        }
        let oja = final_distances(&o, "oja")?;
        let leg = |c: FromData| {
            legs.iter()
                .find(|l| l.covariance == c)
                .ok_or_else(|| anyhow::anyhow!("train-data did not run {}", name(c)))
        };
        let (inf, std) = (leg(FromData::Informed)?, leg(FromData::Standard)?);
        // (a) The theory's ranking of the two latents holds on the images.
        let z_rank = z_means(&std.data, &inf.data);
        let ode_sign = (mean(&std.ode) - mean(&inf.ode)).signum();
        verdicts.push(z_rank * ode_sign > 3.0);
        // (b) The planted model at the same n explains the data's distance from the ODE.
        let gap_planted = (mean(&inf.data) - mean(&inf.planted)).abs();
        let se_planted = (se(&inf.data).powi(2) + se(&inf.planted).powi(2)).sqrt();
        let gap_ode = (mean(&inf.data) - mean(&inf.ode)).abs();
        verdicts.push(gap_planted + 3.0 * se_planted < gap_ode);
        let z_agree = z_means(&inf.data, &inf.planted);
        let z_control = z_means(&inf.data, &std.planted);
        let ms = |x: &[f64]| {
            let (m, s) = mean_sd(x);
            format!("{m:.2} +- {s:.2}")
        };
        measured.push(format!(
            "{}: informed data {} vs N(0,I) {} (z {z_rank:+.1}, ODE sign {ode_sign:+}); informed data - planted {gap_planted:.3} (+3 SE {:.3}) vs data - ODE {gap_ode:.3}; Oja {}",
            ds.name(),
            ms(&inf.data),
            ms(&std.data),
            gap_planted + 3.0 * se_planted,
            ms(&oja)
        ));
        details.push(format!(
            "\n**{}** (n = {}, {} training images, {} held out; {:.0} s for the data runs):\n\n\
             | method | data, final distance (mean +- sd, {seeds} seeds) | planted model, same n | data vs planted z | ODE (n -> inf) |\n|---|---|---|---|---|",
            ds.name(),
            data.prep.n,
            o.images,
            o.holdout,
            o.seconds,
        ));
        for l in &legs {
            details.push(format!(
                "| GAN, {} | {} | {} | {:+.2} | {} |",
                name(l.covariance),
                ms(&l.data),
                ms(&l.planted),
                z_means(&l.data, &l.planted),
                ms(&l.ode)
            ));
        }
        details.push(format!(
            "| Oja's rule, eta_t = 1 / (n + t) | {} | - | - | - |\n\n\
             Ranking: N(0, I) minus informed on the data z = {z_rank:+.2}, the ODE's difference has sign {ode_sign:+} (asserted: same sign, |z| > 3). \
             Informed: |data - planted| = {gap_planted:.3} (+ 3 SE = {:.3}) against |data - ODE| = {gap_ode:.3} (asserted smaller). \
             Reported: informed data vs planted informed z = {z_agree:+.2}, vs planted N(0, I) z = {z_control:+.2}.",
            ms(&oja),
            gap_planted + 3.0 * se_planted
        ));
        plots.push(ctx.plot_panels(
            &format!("multi_feature_real_data_{}", ds.name().replace('-', "_")),
            &method_panels(&format!("{} (d = p = {d})", ds.name()), &o.methods),
            2,
        )?);
    }
    let mut out = Outcome::from_verdicts(
        &verdicts,
        measured.join("; "),
        "per dataset: informed vs N(0, I) z > 3 in the ODE's direction; |data - planted| + 3 SE < |data - ODE|".into(),
    );
    out.details = details;
    out.plots = plots;
    Ok(out)
}
