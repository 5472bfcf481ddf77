/// The regulariser `H` of the objective (THEORY §1), acting on `w^T w` and on each
/// `diag(V^T V)` entry. Engines only need its derivative.
pub trait Regularizer {
    /// `H(x)`.
    fn h(&self, x: f64) -> f64;
    /// `H'(x)`.
    fn h_prime(&self, x: f64) -> f64;
}

/// Example 1's regulariser `H(x) = log cosh(x - 1)`, `H'(x) = tanh(x - 1)`: it pulls the
/// squared norms towards 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogCosh;

impl Regularizer for LogCosh {
    fn h(&self, x: f64) -> f64 {
        (x - 1.0).cosh().ln()
    }
    fn h_prime(&self, x: f64) -> f64 {
        (x - 1.0).tanh()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivative_matches_finite_difference() {
        let h = LogCosh;
        for &x in &[-1.0, 0.3, 1.0, 2.5] {
            let e = 1e-6;
            let fd = (h.h(x + e) - h.h(x - e)) / (2.0 * e);
            assert!((fd - h.h_prime(x)).abs() < 1e-8, "x = {x}");
        }
        assert!(h.h_prime(1.0).abs() < 1e-15);
    }
}
