//! The subspace-tracking baselines on a stream with a known answer.

use super::{Check, Ctx, Outcome};
use anyhow::Result;
use hdgan_model::random::stream_rng;
use hdgan_report::plot::{Figure, PALETTE, Series, Style};
use hdgan_subspace::{Oja, OjaOptions, PlantedStream, Tracker, TrackerKind, alignment};

pub fn checks() -> Vec<Check> {
    vec![Check {
        name: "baselines_planted",
        claim: "Each subspace tracker (Oja, GROUSE, PAST, PETRELS) recovers a planted 4-dimensional subspace from a spiked stream: its RMS Grassmann distance over seeds is below 3 x batch PCA's first-order error from the same number of samples, at stream lengths 20 n and 80 n (a bound that shrinks like 1/sqrt(t)), while a tracker that does not learn (Oja with zero step) fails the bound. (The GAN's recovery of a planted subspace is the anchor_setting and multi-feature checks.)",
        run: baselines_planted,
    }]
}

/// Batch PCA's first-order subspace error from t samples of a spiked covariance (signal
/// variances `lam`, unit noise): `E |sin Theta|_F^2 ~ sum_j (n - d)(lam_j + 1) / (lam_j^2 t)`.
fn pca_error(n: usize, lam: &[f64], t: usize) -> f64 {
    let d = lam.len();
    lam.iter()
        .map(|l| (n - d) as f64 * (l + 1.0) / (l * l * t as f64))
        .sum()
}

fn baselines_planted(ctx: &Ctx) -> Result<Outcome> {
    let n = ctx.pick(200, 800);
    let seeds = ctx.pick(6, 20);
    let lam = [8.0, 6.0, 5.0, 4.0];
    let d = lam.len();
    let (t1, t2) = (20 * n, 80 * n);
    let records: Vec<usize> = (1..=40).map(|k| k * t2 / 40).collect();
    // The trackers with their default options, then the control.
    let build = |which: Option<TrackerKind>, start: &[f64]| -> Box<dyn Tracker> {
        match which {
            Some(k) => k.build(start, n, d),
            None => Box::new(Oja::new(start, n, d, OjaOptions { rate: 0.0 })),
        }
    };
    let kinds: Vec<(String, Option<TrackerKind>)> = TrackerKind::ALL
        .into_iter()
        .map(|k| (k.name().to_owned(), Some(k)))
        .chain([("control: Oja, zero step".to_owned(), None)])
        .collect();
    let mut verdicts = Vec::new();
    let mut measured = Vec::new();
    let mut details = vec![format!(
        "n = {n}, planted lam = {lam:?} (unit noise), {seeds} seeds, every tracker started from the same random orthonormal basis per seed and fed \
         the same samples. Bound at stream length t: 3 sqrt(sum_j (n - d)(lam_j + 1) / (lam_j^2 t)), three times batch PCA's first-order \
         error from t samples. Default options: Oja and GROUSE eta_t = 1 / (n + t); PAST and PETRELS without forgetting, delta = 1.\n\n\
         | tracker | RMS distance at 20 n | / PCA error | RMS distance at 80 n | / PCA error |\n|---|---|---|---|---|"
    )];
    let mut series = Vec::new();
    for (ki, (name, which)) in kinds.iter().enumerate() {
        let mut sq = vec![0.0; records.len()];
        for s in 0..seeds {
            let mut rng = stream_rng(9100, s as u64);
            let mut stream = PlantedStream::new(n, &lam, 1.0, &mut rng);
            let start = stream.random_basis(d, &mut rng);
            let mut tracker = build(*which, &start);
            let mut x = vec![0.0; n];
            let mut done = 0;
            for (ri, &k) in records.iter().enumerate() {
                while done < k {
                    stream.sample(&mut rng, &mut x);
                    tracker.update(&x);
                    done += 1;
                }
                let (_, dist) = alignment(stream.basis(), tracker.basis(), n, d)
                    .ok_or_else(|| anyhow::anyhow!("{name}: rank-deficient basis"))?;
                sq[ri] += dist * dist / seeds as f64;
            }
        }
        let rms = |t: usize| sq[records.iter().position(|&k| k == t).expect("recorded")].sqrt();
        let ratio = |t: usize| rms(t) / pca_error(n, &lam, t).sqrt();
        let (r1, r2) = (ratio(t1), ratio(t2));
        let control = which.is_none();
        if control {
            verdicts.push(r1 > 3.0);
        } else {
            verdicts.push(r1 < 3.0 && r2 < 3.0);
        }
        measured.push(format!("{name} {r1:.2} / {r2:.2}"));
        details.push(format!(
            "| {name} | {:.4} | {r1:.2} | {:.4} | {r2:.2} |",
            rms(t1),
            rms(t2)
        ));
        series.push(Series {
            label: name.clone(),
            color: PALETTE[ki % PALETTE.len()],
            style: if control { Style::Dashed } else { Style::Line },
            points: records
                .iter()
                .zip(&sq)
                .map(|(&k, v)| ((k as f64 / n as f64).log10(), v.sqrt().log10()))
                .collect(),
        });
    }
    series.push(Series {
        label: "3 x batch PCA's error".into(),
        color: PALETTE[6 % PALETTE.len()],
        style: Style::Dots,
        points: records
            .iter()
            .map(|&k| {
                (
                    (k as f64 / n as f64).log10(),
                    (3.0 * pca_error(n, &lam, k).sqrt()).log10(),
                )
            })
            .collect(),
    });
    let plot = ctx.plot(
        "baselines_planted",
        &Figure {
            title: format!("subspace trackers on a planted 4-dim subspace, n = {n}"),
            x_label: "log10 (samples / n)".into(),
            y_label: "log10 RMS Grassmann distance".into(),
            series,
            ..Figure::default()
        },
    )?;
    let mut out = Outcome::from_verdicts(
        &verdicts,
        format!(
            "RMS distance / PCA error at 20 n / 80 n: {}",
            measured.join("; ")
        ),
        "each tracker < 3 at both lengths; the zero-step control > 3".into(),
    );
    out.details = details;
    out.plots = vec![plot];
    Ok(out)
}
