//! `hdgan train-data`: the linear GAN trained on a stream of real images (THEORY §8, real
//! data). The images are centred and scaled so the covariance's noise bulk has unit
//! variance (`eta_T = 1`); the reference subspace is their top-d principal subspace and the
//! estimated effective spectrum `Lam_l = lam_l - 1` its eigenvalues above the bulk. The
//! generator draws `c~` from an informed (`diag(Lam)`) or an isotropic (`(tr Lam / d) I`,
//! same total power) covariance. Alignment of span(V) with the reference is tracked as the
//! cosines of the principal angles and the Grassmann distance, for several seeds, beside
//! the reduced ODE (13) computed from the estimated spectrum, started from each seed's own
//! initial overlaps (with `--constraint orthonormal`, `V` kept orthonormal and the
//! orthonormal model's ODE).

use crate::{Control, Error, Result};
use hdgan_core::{
    DMat, MacroState, MultiState, Trajectory, grassmann_distance, principal_cosines_ranked,
};
use hdgan_data::{Colour, Dataset, ImageSet, ImageStream, Prepared};
use hdgan_macro_ode::{MultiForm, solve_multi};
use hdgan_macro_ode::{OdeKind, OdeOptions, solve};
use hdgan_micro_sim::{Engine, MultiSgda, Schedule, fill_normals};
use hdgan_model::random::stream_rng;
use hdgan_model::{Constraint, FromData, LambdaValue, LatentConfig, Model, ModelConfig};
use hdgan_subspace::TrackerKind;
use rayon::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// What `hdgan train-data` was asked to do. `None` rates and horizon are derived from the
/// data (see [`TrainDataRequest::settings`]).
#[derive(Clone, Debug)]
pub struct TrainDataRequest {
    /// Which dataset.
    pub dataset: Dataset,
    /// Its file or folder.
    pub path: PathBuf,
    /// CIFAR-10 colour handling (ignored for the greyscale IDX sets).
    pub colour: Colour,
    /// Use only the first this many images.
    pub max_images: Option<usize>,
    /// Reference dimension d (generator columns).
    pub d: usize,
    /// Discriminator learning rate tau.
    pub tau: f64,
    /// Generator-to-discriminator rate ratio alpha = tau~ / tau (None: `tau eta^2 / Lam_1`,
    /// the middle of the informed generator's solvable interval for the top mode).
    pub alpha: Option<f64>,
    /// Generator noise variance eta_G.
    pub eta_g: f64,
    /// Final time T = steps / n (None: `40 / (tau~ Lam_d)`, forty generator time
    /// constants of the weakest reference mode: long enough for the ODE to settle or to
    /// show its long-time oscillation).
    pub t_end: Option<f64>,
    /// Number of recorded points.
    pub records: usize,
    /// Number of seeds per generator covariance.
    pub seeds: usize,
    /// Base seed.
    pub seed: u64,
    /// Generator covariances to train with.
    pub covariances: Vec<FromData>,
    /// Worker threads (None: one per core).
    pub threads: Option<usize>,
    /// How the generator's columns are constrained: each normalised on its own (the paper's
    /// model, default) or `V` kept orthonormal by Gram-Schmidt (THEORY §8).
    pub constraint: Constraint,
    /// Discriminator features p (default 1; the multi-feature model of THEORY §8 for p > 1).
    pub p: usize,
    /// Subspace-tracking baselines run on each seed's stream (default none).
    pub baselines: Vec<TrackerKind>,
    /// Images held out of training (and of the PCA reference) for the reconstruction error
    /// (None: a tenth of the images, at most 1000).
    pub holdout: Option<usize>,
    /// How many times (evenly spaced over the records, first and last included) the learned
    /// bases are kept for pictures (default 5).
    pub pictures: usize,
}

impl TrainDataRequest {
    /// The defaults for `dataset` at `path`: d = 2, tau = 0.2, eta_G = 3, 5 seeds, both
    /// covariances, rates and horizon from the data.
    pub fn new(dataset: Dataset, path: PathBuf) -> Self {
        Self {
            dataset,
            path,
            colour: Colour::Grey,
            max_images: None,
            d: 2,
            tau: 0.2,
            alpha: None,
            eta_g: 3.0,
            t_end: None,
            records: 100,
            seeds: 5,
            seed: 1,
            covariances: vec![FromData::Informed, FromData::Isotropic, FromData::Standard],
            threads: None,
            constraint: Constraint::Columns,
            p: 1,
            baselines: Vec::new(),
            holdout: None,
            pictures: 5,
        }
    }

    /// The held-out image count for a set of `count` images.
    pub fn holdout_for(&self, count: usize) -> usize {
        self.holdout.unwrap_or((count / 10).min(1000))
    }

    /// The rates and horizon used with the estimated spectrum `lam` (descending):
    /// `(alpha, t_end)`.
    pub fn settings(&self, lam: &[f64]) -> (f64, f64) {
        let eta_sq = 0.5 * (1.0 + self.eta_g * self.eta_g);
        let alpha = self.alpha.unwrap_or(self.tau * eta_sq / lam[0]);
        let weakest = lam[lam.len() - 1].max(1e-12);
        let t_end = self.t_end.unwrap_or(40.0 / (alpha * self.tau * weakest));
        (alpha, t_end)
    }

    /// Checks every setting that does not need the data (flags named in errors).
    pub fn check(&self) -> Result<()> {
        let bad = |flag: &str, rule: &str| Err(Error::arg(flag, rule));
        if self.d == 0 {
            return bad("--d", "must be >= 1");
        }
        if !(self.tau.is_finite() && self.tau > 0.0) {
            return bad("--tau", "must be a finite number > 0");
        }
        if let Some(a) = self.alpha
            && !(a.is_finite() && a > 0.0)
        {
            return bad("--alpha", "must be a finite number > 0");
        }
        if !(self.eta_g.is_finite() && self.eta_g >= 0.0) {
            return bad("--eta-g", "must be a finite number >= 0");
        }
        if let Some(t) = self.t_end
            && !(t.is_finite() && t > 0.0)
        {
            return bad("--t-end", "must be a finite number > 0");
        }
        if self.seeds == 0 {
            return bad("--seeds", "must be >= 1");
        }
        if self.p == 0 {
            return bad("--p", "must be >= 1");
        }
        if self.pictures < 2 {
            return bad("--pictures", "must be >= 2 (the first and the last record)");
        }
        if self.records < 2 {
            return bad("--records", "must be >= 2");
        }
        crate::resources::check_threads(self.threads)?;
        if self.colour == Colour::Rgb && self.dataset != Dataset::Cifar10 {
            return Err(Error::arg(
                "--colour",
                format!(
                    "applies to `--dataset cifar10` only; `--dataset {}` images are greyscale",
                    self.dataset.name()
                ),
            ));
        }
        if self.covariances.is_empty() {
            return bad("--covariance", "must name at least one covariance");
        }
        Ok(())
    }
}

/// Alignment of one path: time, cosines of the principal angles (descending), their mean,
/// and the Grassmann distance.
#[derive(Clone, Debug, PartialEq)]
pub struct AlignmentCurve {
    /// Times.
    pub t: Vec<f64>,
    /// Cosines of the principal angles at each time.
    pub cosines: Vec<Vec<f64>>,
    /// Mean cosine at each time.
    pub mean_cos: Vec<f64>,
    /// Grassmann distance at each time.
    pub grassmann: Vec<f64>,
}

impl AlignmentCurve {
    fn empty() -> Self {
        Self {
            t: Vec::new(),
            cosines: Vec::new(),
            mean_cos: Vec::new(),
            grassmann: Vec::new(),
        }
    }

    fn from_overlaps(t: &[f64], ps: impl Iterator<Item = (DMat, DMat)>) -> Self {
        let mut c = Self {
            t: t.to_vec(),
            ..Self::empty()
        };
        for (p, s) in ps {
            // A generator whose columns collapse (the ODE of a latent outside its modes'
            // intervals) spans fewer dimensions: the missing ones count as orthogonal.
            let cos = principal_cosines_ranked(&p, &s, RANK_TOL)
                .unwrap_or_else(|| vec![f64::NAN; p.rows()]);
            c.mean_cos.push(cos.iter().sum::<f64>() / cos.len() as f64);
            c.grassmann.push(grassmann_distance(&cos));
            c.cosines.push(cos);
        }
        c
    }

    /// The alignment of a simulated path.
    pub fn of_sim(t: &Trajectory<MultiState>) -> Self {
        Self::from_overlaps(
            &t.times,
            t.states.iter().map(|s| (s.p.clone(), s.s.clone())),
        )
    }

    /// The alignment of an ODE path.
    pub fn of_ode(t: &Trajectory) -> Self {
        Self::from_overlaps(
            &t.times,
            t.states.iter().map(|s| (s.p.clone(), s.s.clone())),
        )
    }

    /// Mean cosine averaged over the last `frac` of the recorded times (the final
    /// alignment, smoothed over the run's end).
    pub fn final_mean_cos(&self, frac: f64) -> f64 {
        tail_mean(&self.mean_cos, frac)
    }

    /// Grassmann distance averaged over the last `frac` of the recorded times.
    pub fn final_grassmann(&self, frac: f64) -> f64 {
        tail_mean(&self.grassmann, frac)
    }
}

/// Relative eigenvalue of `S = V^T V` below which a direction of `span(V)` counts as
/// collapsed (round-off of unit columns is ~1e-16).
const RANK_TOL: f64 = 1e-10;

/// Mean of the last `frac` of `x` (at least one value).
fn tail_mean(x: &[f64], frac: f64) -> f64 {
    let k = ((x.len() as f64 * frac).ceil() as usize).clamp(1, x.len());
    x[x.len() - k..].iter().sum::<f64>() / k as f64
}

/// The runs for one generator covariance.
#[derive(Clone, Debug)]
pub struct CovarianceRuns {
    /// Informed or isotropic.
    pub covariance: FromData,
    /// The rate ratio `tau~ / tau` this covariance ran with (see [`data_model`]).
    pub alpha: f64,
    /// The generator's latent second moment (diagonal).
    pub lam_tilde: Vec<f64>,
    /// One simulated path per seed.
    pub sims: Vec<Trajectory<MultiState>>,
    /// Their alignment curves.
    pub sim_alignment: Vec<AlignmentCurve>,
    /// The ODE from each seed's initial overlaps, and its alignment.
    pub ode_alignment: Vec<AlignmentCurve>,
    /// Final alignment (mean cosine over the last 10% of the run) per seed.
    pub final_sim: Vec<f64>,
    /// The same for the ODE paths.
    pub final_ode: Vec<f64>,
}

/// What `hdgan train-data` produced.
#[derive(Clone, Debug)]
pub struct TrainDataOutcome {
    /// The data's preparation (spectrum, scale, reference).
    pub prepared: Arc<Prepared>,
    /// Training images.
    pub images: usize,
    /// Held-out images (reconstruction error).
    pub holdout: usize,
    /// Image shape: height, width, channels.
    pub shape: (usize, usize, usize),
    /// The base rate ratio alpha (that of the informed generator; see [`data_model`]).
    pub alpha: f64,
    /// Final time.
    pub t_end: f64,
    /// Per generator covariance.
    pub runs: Vec<CovarianceRuns>,
    /// Every method's path on every seed: the GAN runs (covariance by covariance, seed by
    /// seed), then the baselines (in request order, seed by seed).
    pub methods: Vec<MethodRun>,
    /// Wall-clock seconds of the training runs.
    pub seconds: f64,
}

/// Mean and sample standard deviation (0 for one value).
pub fn mean_sd(x: &[f64]) -> (f64, f64) {
    let sd = if x.len() > 1 {
        hdgan_core::stats::sd(x)
    } else {
        0.0
    };
    (hdgan_core::stats::mean(x), sd)
}

/// A data reader's error for the request's dataset.
fn data_error(req: &TrainDataRequest, error: hdgan_data::DataError) -> Error {
    Error::Data {
        dataset: req.dataset.name().to_owned(),
        error,
    }
}

/// Loads the data of a request, holds out the last images ([`TrainDataRequest::holdout_for`])
/// and prepares the rest.
pub fn load(req: &TrainDataRequest) -> Result<Loaded> {
    let mut set = req
        .dataset
        .load(&req.path, req.colour)
        .map_err(|error| data_error(req, error))?;
    if let Some(m) = req.max_images {
        set = set.truncated(m);
    }
    let n = set.dim();
    if 2 * req.d + req.p > n {
        return Err(Error::arg(
            "--d",
            format!(
                "{} and `--p` {}: the model needs 2 d + p <= n = {n} (pixels per {} image)",
                req.d,
                req.p,
                req.dataset.name()
            ),
        ));
    }
    let k = req.holdout_for(set.count);
    if k >= set.count {
        return Err(Error::arg(
            "--holdout",
            format!("{k} must be below the number of images ({})", set.count),
        ));
    }
    let held = set.split_off(k);
    let prep = Prepared::new(&set, req.d).map_err(|error| data_error(req, error))?;
    let mut holdout = vec![0.0; held.count * n];
    for (i, y) in holdout.chunks_exact_mut(n).enumerate() {
        prep.transform_into(held.image(i), y);
    }
    Ok(Loaded {
        set: Arc::new(set),
        prep: Arc::new(prep),
        holdout: Arc::new(holdout),
    })
}

/// The data of a request: the training images, their preparation (from the training images
/// only), and the held-out images in model units (row after row, n each).
#[derive(Clone, Debug)]
pub struct Loaded {
    /// Training images.
    pub set: Arc<ImageSet>,
    /// Their preparation.
    pub prep: Arc<Prepared>,
    /// Held-out images in model units, `count x n` row-major.
    pub holdout: Arc<Vec<f64>>,
}

/// The model of a data run: n = pixels, the request's d, p and constraint, lambda = inf,
/// eta_T = 1 (the scaled bulk),
/// the real latent `diag(Lam)` (used only by the ODE) and the generator's from `cov`.
/// The generator rate is `tau~ = alpha tau (tr Lam / tr Lam~)`: every covariance gets the
/// same generator speed `tau~ tr(Lam~) / d` (the generator's drift scales with its latent
/// power), so the standard latent `N(0, I)` is not merely slower; for informed and
/// power-matched isotropic covariances `tau~ = alpha tau`.
pub fn data_model(
    req: &TrainDataRequest,
    prep: &Prepared,
    alpha: f64,
    cov: FromData,
) -> Result<Model> {
    let base = data_model_at(req, prep, alpha, cov)?;
    let power = |l: &hdgan_model::Latent| l.second_moment().matrix().diag().iter().sum::<f64>();
    let factor = power(base.latent()) / power(base.latent_tilde());
    if (factor - 1.0).abs() < 1e-12 {
        return Ok(base);
    }
    data_model_at(req, prep, alpha * factor, cov)
}

fn data_model_at(
    req: &TrainDataRequest,
    prep: &Prepared,
    alpha: f64,
    cov: FromData,
) -> Result<Model> {
    let lam = prep.effective();
    let mut c = ModelConfig::figure1(prep.n, 1.0);
    c.d = req.d;
    c.p = req.p;
    c.tau = req.tau;
    c.tau_tilde = alpha * req.tau;
    c.eta_t = 1.0;
    c.eta_g = req.eta_g;
    c.lambda = LambdaValue::default();
    c.constraint = req.constraint;
    c.latent = LatentConfig::diagonal(&lam);
    c.latent_tilde = Some(LatentConfig {
        cov: Vec::new(),
        mean: None,
        classes: Vec::new(),
        from_data: Some(cov),
    });
    Ok(c.validate("model")?)
}

/// The checks that need the data's spectrum, made before any training: the top `d`
/// eigenvalues exceed the bulk, the rates are finite, the schedule has at least one step,
/// and the memory estimate fits. Returns `(alpha, t_end, schedule)`.
pub fn check_with_data(req: &TrainDataRequest, prep: &Prepared) -> Result<(f64, f64, Schedule)> {
    req.check()?;
    let lam = prep.effective();
    if lam.iter().any(|&l| l <= 0.0) {
        return Err(Error::arg(
            "--d",
            format!(
                "{}: the top d eigenvalues of the scaled covariance must exceed the bulk (1): estimated Lam = {lam:?}; lower --d",
                req.d
            ),
        ));
    }
    let (alpha, t_end) = req.settings(&lam);
    let tau_tilde = alpha * req.tau;
    if !(tau_tilde.is_finite() && tau_tilde > 0.0) {
        return Err(Error::arg(
            "--tau",
            format!(
                "{:e} and `--alpha` {alpha:e} give the generator rate tau~ = alpha tau = {tau_tilde:e}, which must be a finite number > 0",
                req.tau
            ),
        ));
    }
    if !(t_end.is_finite() && t_end > 0.0) {
        return Err(Error::arg(
            "--t-end",
            format!(
                ": the horizon {t_end:e} (default 40 / (tau~ Lam_d)) must be a finite number > 0; set --t-end"
            ),
        ));
    }
    let n = prep.n;
    let schedule = Schedule::from_times(n, t_end, t_end / req.records as f64).map_err(|e| {
        Error::arg(
            "--t-end",
            format!(
                "{t_end:e}: {}",
                e.to_string().trim_start_matches("`sim.t_end` ")
            ),
        )
    })?;
    let runs = (req.seeds * req.covariances.len()) as f64;
    let records = (req.records + 2) as f64;
    let workers = req
        .threads
        .unwrap_or_else(rayon::current_num_threads)
        .min(req.seeds * req.covariances.len()) as f64;
    let mut e = crate::resources::Estimate::default();
    e.add(
        "n-dimensional state vectors",
        workers * (3 * req.d + 8) as f64,
        8.0 * n as f64,
    )
    .add(
        "recorded states and alignment curves",
        2.0 * runs * records,
        crate::resources::state_bytes(MultiState::packed_len(req.d, 1), 5)
            + crate::resources::row_bytes(req.d + 6),
    )
    .keys(&["--seeds", "--covariance", "--d"]);
    let tracker_runs = (req.seeds * req.baselines.len()) as f64;
    e.work = Some((
        (runs + tracker_runs) * schedule.steps as f64,
        "samples (SGDA steps and tracker updates)".to_owned(),
    ));
    e.check()?;
    Ok((alpha, t_end, schedule))
}

/// Trains on the data: for each covariance and seed one run from random unit columns
/// (stream `(seed, member)`, the same initial weights for both covariances), plus the ODE
/// from every run's initial overlaps. Deterministic for a given request whatever the
/// thread count.
pub fn train(req: &TrainDataRequest, data: &Loaded, ctl: Control<'_>) -> Result<TrainDataOutcome> {
    let _span = tracing::info_span!("train_data", dataset = req.dataset.name()).entered();
    let (set, prep) = (&data.set, &data.prep);
    let (alpha, t_end, schedule) = check_with_data(req, prep)?;
    let n = prep.n;
    let started = Instant::now();
    let models: Vec<Model> = req
        .covariances
        .iter()
        .map(|&c| data_model(req, prep, alpha, c))
        .collect::<Result<_>>()?;
    // One task per (covariance, seed) GAN run, then per (baseline, seed).
    let gans = req.covariances.len() * req.seeds;
    let tasks: Vec<Task> = (0..req.covariances.len())
        .flat_map(|c| (0..req.seeds).map(move |s| Task::Gan(c, s)))
        .chain(
            req.baselines
                .iter()
                .flat_map(|&k| (0..req.seeds).map(move |s| Task::Baseline(k, s))),
        )
        .collect();
    ctl.begin(
        &format!("train-data {}", req.dataset.name()),
        tasks.len() as u64 * schedule.steps,
        "samples",
    );
    let records = schedule.record_steps();
    let pictures = picture_steps(&records, req.pictures);
    let recorder = |method: String, seed: usize| Recorder {
        reference: &prep.reference,
        holdout: &data.holdout,
        n,
        pictures: &pictures,
        run: MethodRun {
            method,
            seed,
            curve: AlignmentCurve::empty(),
            recon: Vec::new(),
            seconds: 0.0,
            samples: 0,
            snapshots: Vec::new(),
        },
    };
    let inc = |k: u64| ctl.advance(k);
    let work = || -> Result<Vec<(Option<Trajectory<MultiState>>, MethodRun)>> {
        tasks
            .par_iter()
            .map(|&task| {
                let s = task.seed();
                // The same initial columns for every method of a seed.
                let mut rng = stream_rng(req.seed, s as u64);
                let (v0, w0) = random_columns(n, req.d, req.p, &mut rng);
                let stream =
                    ImageStream::new(Arc::clone(set), Arc::clone(prep), shuffle_rng(req.seed, s));
                match task {
                    Task::Gan(c, _) => {
                        let m = &models[c];
                        let mut engine = MultiSgda::with_real_data(
                            m,
                            prep.reference.clone(),
                            v0,
                            w0,
                            Box::new(stream),
                            hdgan_micro_sim::DEFAULT_BLOWUP,
                        )?;
                        let mut rec = recorder(format!("gan-{}", cov_name(req.covariances[c])), s);
                        let mut traj = Trajectory::new();
                        let mut done = 0;
                        for &k in &records {
                            let t0 = Instant::now();
                            while done < k {
                                engine.step(&mut rng).map_err(|e| {
                                    Error::sim(
                                        format!(
                                            "training run (covariance {}, seed {s})",
                                            cov_name(req.covariances[c])
                                        ),
                                        e,
                                    )
                                })?;
                                done += 1;
                            }
                            rec.run.seconds += t0.elapsed().as_secs_f64();
                            check_cancel(&ctl, k as f64 / n as f64)?;
                            inc(k - rec.run.samples);
                            rec.run.samples = k;
                            traj.push(k as f64 / n as f64, engine.macro_state());
                            rec.record(k, engine.v());
                        }
                        Ok((Some(traj), rec.run))
                    }
                    Task::Baseline(kind, _) => {
                        let mut stream = stream;
                        let mut tracker = kind.build(&v0, n, req.d);
                        let mut rec = recorder(kind.name().to_owned(), s);
                        let mut x = vec![0.0; n];
                        let mut done = 0;
                        for &k in &records {
                            let t0 = Instant::now();
                            while done < k {
                                stream.next_sample(&mut x);
                                tracker.update(&x);
                                done += 1;
                            }
                            rec.run.seconds += t0.elapsed().as_secs_f64();
                            check_cancel(&ctl, k as f64 / n as f64)?;
                            inc(k - rec.run.samples);
                            rec.run.samples = k;
                            rec.record(k, tracker.basis());
                        }
                        Ok((None, rec.run))
                    }
                }
            })
            .collect()
    };
    let results = crate::with_threads(req.threads, work)??;
    ctl.end();
    let seconds = started.elapsed().as_secs_f64();
    let (gan_results, baseline_results) = results.split_at(gans);
    let sims: Vec<Trajectory<MultiState>> = gan_results
        .iter()
        .map(|(t, _)| t.clone().expect("GAN tasks record trajectories"))
        .collect();
    // The ODE is an overlay on noisy data curves: 1e-7 relative accuracy is plenty, and
    // it keeps the d = p = 64 system (stiff: rates up to tau Lam_1 ~ 100) affordable.
    let opts = OdeOptions {
        rtol: 1e-7,
        atol: 1e-9,
        ..OdeOptions::default()
    };
    let mut runs = Vec::new();
    for (c, &cov) in req.covariances.iter().enumerate() {
        let mine: Vec<Trajectory<MultiState>> = sims[c * req.seeds..(c + 1) * req.seeds].to_vec();
        let m = &models[c];
        let sim_alignment: Vec<AlignmentCurve> = mine.iter().map(AlignmentCurve::of_sim).collect();
        let mut ode_alignment = Vec::new();
        for t in &mine {
            let ode = if m.p() > 1 || m.constraint() == Constraint::Orthonormal {
                // The multi-feature ODE (THEORY §8) from the run's first record (for the
                // orthonormal model the engine orthonormalised V before it).
                let path = solve_multi(m, MultiForm::for_model(m), &t.states[0], &t.times, &opts)
                    .map_err(|e| Error::ode("ODE from the estimated spectrum", e))?;
                AlignmentCurve::of_sim(&path)
            } else {
                let one_column = || Error::Internal("a p = 1 run must have one column".to_owned());
                let start: MacroState = t.states[0].to_single().ok_or_else(one_column)?;
                AlignmentCurve::of_ode(
                    &solve(m, OdeKind::Reduced, &start, &t.times, &opts)
                        .map_err(|e| Error::ode("ODE from the estimated spectrum", e))?,
                )
            };
            ode_alignment.push(ode);
        }
        let final_sim = sim_alignment
            .iter()
            .map(|a| a.final_mean_cos(0.1))
            .collect();
        let final_ode = ode_alignment
            .iter()
            .map(|a| a.final_mean_cos(0.1))
            .collect();
        runs.push(CovarianceRuns {
            covariance: cov,
            alpha: m.tau_tilde() / m.tau(),
            lam_tilde: m.latent_tilde().second_moment().matrix().diag(),
            sims: mine,
            sim_alignment,
            ode_alignment,
            final_sim,
            final_ode,
        });
    }
    Ok(TrainDataOutcome {
        prepared: Arc::clone(prep),
        images: set.count,
        holdout: data.holdout.len() / n,
        shape: set.shape,
        alpha,
        t_end,
        runs,
        methods: gan_results
            .iter()
            .chain(baseline_results)
            .map(|(_, r)| r.clone())
            .collect(),
        seconds,
    })
}

/// The method runs grouped by method, in first-appearance order.
pub fn method_groups(runs: &[MethodRun]) -> Vec<(&str, Vec<&MethodRun>)> {
    let mut groups: Vec<(&str, Vec<&MethodRun>)> = Vec::new();
    for r in runs {
        match groups.iter_mut().find(|(m, _)| *m == r.method) {
            Some((_, g)) => g.push(r),
            None => groups.push((&r.method, vec![r])),
        }
    }
    groups
}

/// One training task: a GAN run (covariance index, seed) or a baseline's (kind, seed).
#[derive(Clone, Copy, Debug)]
enum Task {
    Gan(usize, usize),
    Baseline(TrackerKind, usize),
}

impl Task {
    fn seed(self) -> usize {
        match self {
            Task::Gan(_, s) | Task::Baseline(_, s) => s,
        }
    }
}

fn check_cancel(ctl: &Control<'_>, t: f64) -> Result<()> {
    if let Some(c) = ctl.cancel
        && c.load(std::sync::atomic::Ordering::Relaxed)
    {
        tracing::debug!(t, "training cancelled");
        return Err(Error::Cancelled);
    }
    Ok(())
}

/// `count` record steps evenly spaced over `records` (first and last included).
fn picture_steps(records: &[u64], count: usize) -> Vec<u64> {
    let last = records.len() - 1;
    let mut steps: Vec<u64> = (0..count)
        .map(|i| records[(i * last + (count - 1) / 2) / (count - 1).max(1)])
        .collect();
    steps.dedup();
    steps
}

/// One method's path on one seed: alignment with the reference, held-out reconstruction
/// error, wall time of its updates, and its basis at the picture times.
#[derive(Clone, Debug)]
pub struct MethodRun {
    /// `gan-<covariance>` or the baseline's name.
    pub method: String,
    /// Seed index.
    pub seed: usize,
    /// Principal cosines, their mean and the Grassmann distance at each record.
    pub curve: AlignmentCurve,
    /// Mean relative reconstruction error `|x - Pi x|^2 / |x|^2` of the held-out images on
    /// the span of the basis, at each record (NaN when nothing is held out).
    pub recon: Vec<f64>,
    /// Wall-clock seconds spent in the method's updates (recording excluded).
    pub seconds: f64,
    /// Samples consumed.
    pub samples: u64,
    /// `(t, basis)` at the picture times (column-major n x d).
    pub snapshots: Vec<(f64, Vec<f64>)>,
}

impl MethodRun {
    /// Wall-clock seconds per sample.
    pub fn seconds_per_sample(&self) -> f64 {
        self.seconds / self.samples.max(1) as f64
    }
}

struct Recorder<'a> {
    reference: &'a [f64],
    holdout: &'a [f64],
    n: usize,
    pictures: &'a [u64],
    run: MethodRun,
}

impl Recorder<'_> {
    fn record(&mut self, k: u64, basis: &[f64]) {
        let n = self.n;
        let d = basis.len() / n;
        let t = k as f64 / n as f64;
        let (cos, dist) = hdgan_subspace::alignment(self.reference, basis, n, d)
            .unwrap_or_else(|| (vec![f64::NAN; self.reference.len() / n], f64::NAN));
        let c = &mut self.run.curve;
        c.t.push(t);
        c.mean_cos.push(cos.iter().sum::<f64>() / cos.len() as f64);
        c.grassmann.push(dist);
        c.cosines.push(cos);
        self.run.recon.push(
            hdgan_subspace::reconstruction_error(basis, n, self.holdout.chunks_exact(n))
                .unwrap_or(f64::NAN),
        );
        if self.pictures.contains(&k) {
            self.run.snapshots.push((t, basis.to_vec()));
        }
    }
}

/// The generator that orders seed `s`'s image stream: the same for the GAN and every
/// baseline of that seed (a stream of its own, apart from the members' `(seed, s)`).
pub fn shuffle_rng(seed: u64, s: usize) -> hdgan_model::random::SimRng {
    hdgan_model::random::SimRng::from_state(hdgan_model::random::jump(
        stream_rng(seed, s as u64).state(),
    ))
}

/// Random unit columns: `d` for V and `p` for W (Gaussian, normalised).
fn random_columns(
    n: usize,
    d: usize,
    p: usize,
    rng: &mut hdgan_model::random::SimRng,
) -> (Vec<f64>, Vec<f64>) {
    let mut unit = |len: usize| {
        let mut v = vec![0.0; len];
        fill_normals(rng, &mut v);
        for col in v.chunks_exact_mut(n) {
            let norm = col.iter().map(|x| x * x).sum::<f64>().sqrt();
            col.iter_mut().for_each(|x| *x /= norm);
        }
        v
    };
    let v = unit(n * d);
    let w = unit(n * p);
    (v, w)
}

/// The name of a generator covariance in outputs.
pub fn cov_name(c: FromData) -> &'static str {
    match c {
        FromData::Informed => "informed",
        FromData::Isotropic => "isotropic",
        FromData::Standard => "standard",
    }
}
