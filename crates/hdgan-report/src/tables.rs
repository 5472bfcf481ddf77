//! Tables of the experiments' results: the rows of the CSV/NPY files and the text tables
//! the command line prints.

use crate::figures::upper_end;
use hdgan_core::Trajectory;
use hdgan_stability::{EffectiveModes, ModeStatus, Phase};

/// Numeric code of a phase for the `.npy` grids: 0 success, 1 oscillation, 2 failure,
/// 3 + (bit mask of learned features) for mode collapse; NaN when unknown.
pub fn phase_code(p: Option<&Phase>) -> f64 {
    match p {
        None => f64::NAN,
        Some(Phase::Success) => 0.0,
        Some(Phase::Oscillation) => 1.0,
        Some(Phase::Failure) => 2.0,
        Some(Phase::ModeCollapse { learned, .. }) => {
            3.0 + learned.iter().map(|&l| (1u64 << l) as f64).sum::<f64>()
        }
    }
}

fn status_name(s: ModeStatus) -> &'static str {
    match s {
        ModeStatus::NotLearned => "not learnable",
        ModeStatus::Stable => "in interval",
        ModeStatus::Oscillating => "too strong",
    }
}

fn status_code(s: ModeStatus) -> f64 {
    match s {
        ModeStatus::NotLearned => 0.0,
        ModeStatus::Stable => 1.0,
        ModeStatus::Oscillating => 2.0,
    }
}

/// The table `hdgan modes` prints.
pub fn modes_table(m: &EffectiveModes) -> String {
    let mut out = format!(
        "tau eta^2 = {:.4}, alpha = {:.4}; mode l is learned and stable when tau eta^2 < lam_l <= 2 tau eta^2 + (1 - alpha) lam~_l (matched lam~ = lam: lam <= {:.4})\n",
        m.tau_eta_sq, m.alpha, m.matched_upper
    );
    out.push_str(&format!(
        "{:<5} {:>10} {:>10} {:>24}  {:<14} {:>7}  data vector e_l\n",
        "mode", "lam", "lam~", "interval", "status", "p*"
    ));
    for (l, md) in m.modes.iter().enumerate() {
        let vec = md
            .vector
            .iter()
            .take(6)
            .map(|x| format!("{x:+.3}"))
            .collect::<Vec<_>>()
            .join(" ");
        out.push_str(&format!(
            "{:<5} {:>10.4} {:>10.4} {:>24}  {:<14} {:>7}  [{}{}]\n",
            l + 1,
            md.lam,
            md.lam_tilde,
            format!("({:.4}, {:.4}]", m.tau_eta_sq, upper_end(m, l)),
            status_name(md.status),
            md.p_star.map(|p| format!("{p:.4}")).unwrap_or("-".into()),
            vec,
            if md.vector.len() > 6 { " ..." } else { "" }
        ));
    }
    if m.generator_mismatch > 0.0 {
        out.push_str(&format!(
            "note: M~ is not diagonal in the generator's coordinates (largest off-diagonal {:.3} of the largest entry); \
             the column constraint couples its modes, so the intervals are an approximation (see `--run` for the ODE)\n",
            m.generator_mismatch
        ));
    }
    out.push_str(&format!("predicted: {}\n", m.predicted));
    out
}

/// The rows of `modes.csv`: mode, lam, lam~, status code, p*, the interval's ends, the
/// data mode vector e_l and the generator mode vector g_l; with the header.
pub fn mode_rows(m: &EffectiveModes) -> (Vec<String>, Vec<Vec<f64>>) {
    let d = m.modes.len();
    let mut header: Vec<String> = [
        "mode",
        "lam",
        "lam_tilde",
        "status",
        "p_star",
        "lower",
        "upper",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    header.extend((0..d).map(|i| format!("e{}", i + 1)));
    header.extend((0..d).map(|i| format!("g{}", i + 1)));
    let rows = m
        .modes
        .iter()
        .enumerate()
        .map(|(l, md)| {
            let mut r = vec![
                (l + 1) as f64,
                md.lam,
                md.lam_tilde,
                status_code(md.status),
                md.p_star.unwrap_or(f64::NAN),
                m.tau_eta_sq,
                upper_end(m, l),
            ];
            r.extend(&md.vector);
            r.extend(&md.generator_vector);
            r
        })
        .collect();
    (header, rows)
}

/// The rows of a trajectory, prefixed with the member index when given.
pub fn traj_rows(t: &Trajectory, member: Option<usize>) -> Vec<Vec<f64>> {
    t.rows()
        .into_iter()
        .map(|r| match member {
            Some(m) => std::iter::once(m as f64).chain(r).collect(),
            None => r,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct() {
        let a = phase_code(Some(&Phase::ModeCollapse {
            learned: vec![0],
            missing: vec![1],
        }));
        let b = phase_code(Some(&Phase::ModeCollapse {
            learned: vec![1],
            missing: vec![0],
        }));
        assert!((a - 4.0).abs() < 1e-15 && (b - 5.0).abs() < 1e-15);
        assert!(phase_code(None).is_nan());
    }
}
