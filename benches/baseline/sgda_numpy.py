#!/usr/bin/env python3
"""NumPy baseline of hdgan's SGDA step: eq. 5 of Wang, Hu & Lu (2019), literal.

Each step draws one real sample y = U c + sqrt(eta_T) a and two fake samples
y~ = V c~ + sqrt(eta_G) a~ as full n-vectors (three n-vectors of normals per step), updates
w and V with the old w, and (lambda = infinity) rescales w and the columns of V to unit norm.
Quadratic loss (f = identity), latents N(0, Lam), Lam~ = Lam.

Usage: sgda_numpy.py --n 5000 --steps 20000 [--d 2] [--seed 1]
Prints one JSON line: {"impl": "numpy", "n": .., "d": .., "steps": .., "seconds": ..,
"us_per_step": .., "P_diag": [..]} so that a driver script can compare timings.
"""
import argparse
import json
import math
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--d", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tau", type=float, default=0.2)
    ap.add_argument("--tau-tilde", type=float, default=0.04)
    ap.add_argument("--eta", type=float, default=2.0, help="eta_T = eta_G (noise variances)")
    args = ap.parse_args()

    n, d = args.n, args.d
    rng = np.random.default_rng(args.seed)
    lam = np.array([5.0, 3.0] + [1.0] * max(0, d - 2))[:d]
    sqrt_lam = np.sqrt(lam)
    tau, taut = args.tau, args.tau_tilde
    st = sg = math.sqrt(args.eta)

    # Initial state as in hdgan's Figure 1 configs: P0 = 0.1 I, q0 = 0.1, unit norms.
    basis, _ = np.linalg.qr(rng.standard_normal((n, 2 * d + 1)))
    U = basis[:, :d]
    E = basis[:, d:2 * d]
    V = 0.1 * U + math.sqrt(1 - 0.01) * E
    qv = np.full(d, 0.1)
    w = U @ qv + math.sqrt(1 - qv @ qv) * basis[:, 2 * d]

    a, at = tau / n, taut / n
    t0 = time.perf_counter()
    for _ in range(args.steps):
        c = sqrt_lam * rng.standard_normal(d)
        c0 = sqrt_lam * rng.standard_normal(d)
        c1 = sqrt_lam * rng.standard_normal(d)
        y = U @ c + st * rng.standard_normal(n)
        y0 = V @ c0 + sg * rng.standard_normal(n)
        y1 = V @ c1 + sg * rng.standard_normal(n)
        s, s0, s1 = y @ w, y0 @ w, y1 @ w
        w_new = w + a * (s * y - s0 * y0)
        V = V + at * np.outer(w, s1 * c1)
        w = w_new / np.linalg.norm(w_new)
        V = V / np.linalg.norm(V, axis=0)
    seconds = time.perf_counter() - t0
    print(json.dumps({
        "impl": "numpy",
        "numpy": np.__version__,
        "n": n,
        "d": d,
        "steps": args.steps,
        "seconds": seconds,
        "us_per_step": seconds / args.steps * 1e6,
        "P_diag": [float(x) for x in np.diag(U.T @ V)],
    }))


if __name__ == "__main__":
    main()
