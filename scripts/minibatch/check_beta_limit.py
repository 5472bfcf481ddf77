"""Check Phi_beta(M) = M + beta F(M) + O(beta^2) with F the online ODE of THEORY 4 / 4.1
(sample time), for every update order, finite lambda and lambda = inf, d = 1 and d = 2.
Also check (Phi^{kD}-order map - M) / (kD beta) -> F with taut / kD.
Also: the variant without the tau^2 beta b term must NOT have this limit (it gives ito = 0).
Run: python3 check_beta_limit.py
"""
import os
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np
from maps import phi, rhs_theory, assemble, idx

rng = np.random.default_rng(1)


def random_state(d, lam):
    m = 2 * d + 1
    while True:
        X = rng.standard_normal((6, m)) * 0.5
        X[:, :d] = 0
        X[:d, :d] = np.eye(d)
        M = X.T @ X
        M[:d, :d] = np.eye(d)  # U orthonormal
        if np.linalg.eigvalsh(M).min() > 1e-3:
            break
    if not np.isfinite(lam):
        s = 1 / np.sqrt(np.diag(M))
        M = M * s[:, None] * s[None, :]
    return M


def params(d, lam):
    if d == 1:
        Lam, Lamt = np.array([[4.0]]), np.array([[2.0]])
    else:
        Lam, Lamt = np.diag([5.0, 3.0]), np.array([[2.0, 0.5], [0.5, 1.5]])
    return dict(d=d, Lam=Lam, Lamt=Lamt, eT=1.5, eG=0.7, tau=0.6, taut=0.4, lam=lam)


print(f"{'d':>2} {'lam':>5} {'order':>7} {'kD':>2}  err(beta=1e-2)  err(1e-3)  err(1e-4)   ratio")
worst = 0
for d in (1, 2):
    for lam in (np.inf, 2.0):
        prm = params(d, lam)
        M = random_state(d, lam)
        for order, kD in (("sim", 1), ("dfirst", 1), ("gfirst", 1), ("dfirst", 3), ("gfirst", 3)):
            p2 = dict(prm)
            p2["taut"] = prm["taut"] / kD
            F = rhs_theory(M, p2)
            errs = []
            for beta in (1e-2, 1e-3, 1e-4):
                D = (phi(M, prm, beta, order, kD=kD) - M) / (kD * beta)
                errs.append(np.abs(D - F).max())
            ratio = errs[1] / errs[2]
            worst = max(worst, errs[2])
            print(f"{d:>2} {lam:>5} {order:>7} {kD:>2}  {errs[0]:.3e}      {errs[1]:.3e}  {errs[2]:.3e}  {ratio:.2f}")
        # negative control: no noise term -> limit is the ODE with ito = 0, not the ODE
        beta = 1e-4
        D = (phi(M, prm, beta, "sim", noise=False) - M) / beta
        e_true = np.abs(D - rhs_theory(M, prm)).max()
        e_noito = np.abs(D - rhs_theory(M, prm, ito=0.0)).max()
        print(f"   no-noise map: |D - F| = {e_true:.3e} (rejected), |D - F(ito=0)| = {e_noito:.3e}")
print(f"worst error at beta = 1e-4: {worst:.2e} (first order in beta: ratio ~ 10)")
