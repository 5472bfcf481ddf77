//! The limiting ODEs against reference problems with known answers.

use hdgan_core::{DMat, MacroState};
use hdgan_macro_ode::{HForm, OdeError, OdeKind, OdeOptions, reduced_rhs, solve};
use hdgan_model::{LambdaValue, LatentConfig, Model, ModelConfig};

fn model(d: usize, lambda: LambdaValue, eta_t: f64, eta_g: f64, lam: &[f64]) -> Model {
    ModelConfig {
        n: 1000,
        d,
        tau: 0.2,
        tau_tilde: 0.04,
        eta_t,
        eta_g,
        lambda,
        latent: LatentConfig::diagonal(lam),
        latent_tilde: None,
        // loss, l1, p: Example 1 defaults.
        ..ModelConfig::figure1(1000, 2.0)
    }
    .validate("model")
    .unwrap()
}

/// lambda = 0 and q = r = 0: P, S stay put and
/// dz/dt = [2 tau (eta_T - eta_G) + tau^2 (eta_T^2 + eta_G^2)] z, so z(t) = z0 e^{kt}.
#[test]
fn noise_only_norm_growth_is_exponential() {
    let m = model(2, LambdaValue::Number(0.0), 1.5, 0.5, &[5.0, 3.0]);
    let mut s = MacroState::zeros(2);
    s.p = DMat::from_diag(&[0.3, 0.2]);
    s.s = DMat::identity(2);
    s.z = 0.7;
    let times = [0.0, 1.0, 5.0, 10.0];
    let traj = solve(
        &m,
        OdeKind::General(HForm::Corrected),
        &s,
        &times,
        &OdeOptions::default(),
    )
    .unwrap();
    let k = 2.0 * 0.2 * (1.5 - 0.5) + 0.04 * (1.5 * 1.5 + 0.5 * 0.5);
    for (t, st) in traj.times.iter().zip(&traj.states) {
        let exact = 0.7 * (k * t).exp();
        assert!(
            (st.z / exact - 1.0).abs() < 1e-8,
            "t = {t}: {} vs {exact}",
            st.z
        );
        assert!(st.p.max_abs_diff(&s.p) < 1e-14);
    }
}

/// d = 1 reduced ODE fixed points of THEORY §6: every (P, q = 0, r = 0), and the
/// discriminator-only state P = 0, r = 0, q^2 = (Lam - tau eta^2) / ((1 + tau eta_T / 2) Lam).
#[test]
fn reduced_fixed_points_d1() {
    let m = model(1, LambdaValue::default(), 2.0, 2.0, &[5.0]);
    let mut s = MacroState::zeros(1);
    s.s = DMat::identity(1);
    s.z = 1.0;
    for p in [-0.9, 0.0, 0.4, 1.0] {
        s.p[(0, 0)] = p;
        assert!(reduced_rhs(&m, &s).pack().iter().all(|x| x.abs() < 1e-15));
    }
    s.p[(0, 0)] = 0.0;
    let te = m.tau() * m.eta_sq();
    s.q[0] = ((5.0 - te) / ((1.0 + m.tau() * m.eta_t() / 2.0) * 5.0)).sqrt();
    let rhs = reduced_rhs(&m, &s).pack();
    assert!(rhs.iter().all(|x| x.abs() < 1e-14), "{rhs:?}");
}

/// The general ODE with large lambda tends to the reduced ODE (checked fully in
/// `cargo xtask validate`): at lambda = 1e3 the paths over t in [0, 30] differ by less than
/// at lambda = 1e2, and by less than 0.02.
#[test]
fn general_ode_approaches_reduced_for_large_lambda() {
    let mut s = MacroState::zeros(2);
    s.p = DMat::from_diag(&[0.1, 0.1]);
    s.q = vec![0.1, 0.1];
    s.r = vec![0.01, 0.01];
    s.s = DMat::identity(2);
    s.z = 1.0;
    let times: Vec<f64> = (0..=30).map(f64::from).collect();
    let inf = model(2, LambdaValue::default(), 2.0, 2.0, &[5.0, 3.0]);
    let reduced = solve(&inf, OdeKind::Reduced, &s, &times, &OdeOptions::default()).unwrap();
    let dev = |lambda: f64| {
        let m = model(2, LambdaValue::Number(lambda), 2.0, 2.0, &[5.0, 3.0]);
        let g = solve(
            &m,
            OdeKind::General(HForm::Corrected),
            &s,
            &times,
            &OdeOptions::default(),
        )
        .unwrap();
        g.states
            .iter()
            .zip(&reduced.states)
            .map(|(a, b)| a.p.max_abs_diff(&b.p))
            .fold(0.0, f64::max)
    };
    let (d2, d3) = (dev(1e2), dev(1e3));
    assert!(d3 < d2 && d3 < 0.02, "lambda 1e2: {d2}, 1e3: {d3}");
}

#[test]
fn divergence_names_time_and_quantity() {
    // lambda = 0, large noise: z grows like e^{kt} and passes the blow-up bound.
    let m = model(1, LambdaValue::Number(0.0), 4.0, 0.0, &[1.0]);
    let mut s = MacroState::zeros(1);
    s.s = DMat::identity(1);
    s.z = 1.0;
    let opts = OdeOptions {
        blowup: 1e3,
        ..OdeOptions::default()
    };
    let err = solve(
        &m,
        OdeKind::General(HForm::Corrected),
        &s,
        &[0.0, 100.0],
        &opts,
    )
    .unwrap_err();
    match err {
        OdeError::Diverged { t, quantity, value } => {
            // k = 2 * 0.2 * 4 + 0.04 * 16 = 2.24: z = e^{kt} passes 1e3 at t = ln(1e3)/k = 3.08.
            assert_eq!(quantity, "z");
            assert!(
                value > 1e3 && (t - 1e3f64.ln() / 2.24).abs() < 0.5,
                "t = {t}"
            );
        }
        other => panic!("{other}"),
    }
    assert!(solve(&m, OdeKind::Reduced, &s, &[1.0, 0.0], &opts).is_err());
}
