//! The Gram engine and the fast step have the law of the literal simulation; deliberately
//! wrong Gram variants are told apart by the same comparison (the negative controls of
//! `cargo xtask validate`'s in-law checks, small enough for `cargo test`).

use hdgan_core::Trajectory;
use hdgan_core::stats::compare_ensembles;
use hdgan_micro_sim::{GramVariant, InitConfig, Schedule, StepMode, full_ensemble, gram_ensemble};
use hdgan_model::{LambdaValue, LatentConfig, LossName, Model, ModelConfig};

fn model() -> Model {
    model_with(LossName::Quadratic)
}

/// The comparisons' model (d = 1, lambda = 2, eta_T = 1.5, eta_G = 0.5, n = 100) with the
/// given loss; the latent has a non-zero mean so that the linear logit sees something.
fn model_with(loss: LossName) -> Model {
    let mut c = ModelConfig::figure1(100, 1.0);
    c.loss = loss.into();
    c.d = 1;
    c.latent = LatentConfig::diagonal(&[5.0]);
    if loss != LossName::Quadratic {
        c.latent.mean = Some(vec![1.0]);
    }
    c.lambda = LambdaValue::Number(2.0);
    c.eta_t = 1.5;
    c.eta_g = 0.5;
    c.validate("model").unwrap()
}

const SEEDS: usize = 600;

fn full(m: &Model, mode: StepMode, seed: u64) -> Vec<Trajectory> {
    let init = InitConfig::diagonal(1, 0.3, 0.3)
        .validate("init", m)
        .unwrap();
    let schedule = Schedule::from_times(m.n(), 2.0, 1.0).unwrap();
    full_ensemble(m, &init, mode, SEEDS, seed, &schedule).unwrap()
}

fn gram(m: &Model, variant: GramVariant, seed: u64) -> Vec<Trajectory> {
    let init = InitConfig::diagonal(1, 0.3, 0.3)
        .validate("init", m)
        .unwrap();
    let schedule = Schedule::from_times(m.n(), 2.0, 1.0).unwrap();
    gram_ensemble(m, &init.macro_state(), variant, SEEDS, seed, &schedule).unwrap()
}

/// Family-wise level of each comparison: 1% (Bonferroni over every statistic).
const ALPHA: f64 = 0.01;

#[test]
fn gram_engine_has_the_law_of_the_full_simulation() {
    let m = model();
    let reference = full(&m, StepMode::Literal, 1);
    let c = compare_ensembles(&gram(&m, GramVariant::Exact, 2), &reference);
    assert!(c.same_law(ALPHA), "{c:?}");
    for variant in [GramVariant::WrongChiDof, GramVariant::NoPerpendicularNoise] {
        let c = compare_ensembles(&gram(&m, variant, 3), &reference);
        assert!(!c.same_law(ALPHA), "{variant:?} was not detected: {c:?}");
    }
}

/// Seeds 4 and 5 were used until the fast step moved to the eight-lane generator; with it
/// that pair gave a KS p-value of 3e-4 (a 1-in-300 event at this family-wise level) while
/// 5000 seeds per side from the same base seeds showed no difference (smallest KS p 0.15,
/// largest mean z 1.7), and eight other pairs gave p-values like the old generator's. The
/// test moved to the next pair, 6 and 7.
#[test]
fn fast_step_has_the_law_of_the_literal_step() {
    let m = model();
    let c = compare_ensembles(
        &full(&m, StepMode::Fast, 6),
        &full(&m, StepMode::Literal, 7),
    );
    assert!(c.same_law(ALPHA), "{c:?}");
}

/// The fast step and the Gram engine use the loss only through the scores, so they keep the
/// literal step's law for any loss: checked for both logistic losses.
#[test]
fn fast_step_and_gram_engine_keep_the_law_for_the_logistic_losses() {
    for (k, loss) in [LossName::Logistic, LossName::LogisticLinear]
        .into_iter()
        .enumerate()
    {
        let m = model_with(loss);
        let base = 100 + 10 * k as u64;
        let reference = full(&m, StepMode::Literal, base);
        let fast = compare_ensembles(&full(&m, StepMode::Fast, base + 1), &reference);
        assert!(fast.same_law(ALPHA), "{loss:?}, fast: {fast:?}");
        let g = compare_ensembles(&gram(&m, GramVariant::Exact, base + 2), &reference);
        assert!(g.same_law(ALPHA), "{loss:?}, Gram: {g:?}");
        let wrong = compare_ensembles(
            &gram(&m, GramVariant::NoPerpendicularNoise, base + 3),
            &reference,
        );
        assert!(
            !wrong.same_law(ALPHA),
            "{loss:?}: the wrong Gram variant was not detected: {wrong:?}"
        );
    }
}
