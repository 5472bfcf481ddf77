"""Regime 1 (B fixed, n -> inf), "mean" convention, lambda = inf, d = 1, time t = k/n.
Literal minibatch SGDA (n x B noise blocks, seeds vectorised) vs the reduced ODE (THEORY 4.1)
with the Ito terms multiplied by 1/B (claim) and by 1 (wrong: noise not divided by B).

The "sum" convention with rate tau_s is the "mean" convention with tau = B tau_s, and its
sample time is s = B t; so this run also checks the sum-convention statement (online ODE with
tau_s in sample time; wrong variant there: Ito term multiplied by B).

Usage: check_regime1.py [--n 2000] [--B 4] [--seeds 4] [--T 6]
"""
import os
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
import argparse
import time

import numpy as np

from maps import assemble, ode_solve, free_coords, phi

PRM = dict(d=1, Lam=np.array([[5.0]]), Lamt=np.array([[3.0]]), eT=2.0, eG=2.0,
           tau=1.0, taut=0.5, lam=np.inf)
M0 = assemble(np.array([[0.2]]), np.array([0.3]), np.array([0.1]), np.array([[1.0]]), 1.0)


def simulate(n, B, S, T, rec_every, seed):
    """Returns records (times, S x ntimes x 3 array of P, q, r). d = 1, U = e_1."""
    rng = np.random.default_rng(seed)
    eT, eG, tau, taut = PRM["eT"], PRM["eG"], PRM["tau"], PRM["taut"]
    sL, sLt = np.sqrt(PRM["Lam"][0, 0]), np.sqrt(PRM["Lamt"][0, 0])
    # initial vectors with the exact Gram matrix M0 (U = e_1, V, w in the first 3 coordinates)
    R = np.linalg.cholesky(M0).T
    V = np.zeros((S, n))
    w = np.zeros((S, n))
    V[:, :3] = R[:, 1]
    w[:, :3] = R[:, 2]
    steps = int(round(T * n))
    recs, times = [], []

    def record(k):
        times.append(k / n)
        recs.append(np.stack([V[:, 0], w[:, 0], np.sum(V * w, axis=1)], axis=1))

    record(0)
    for k in range(1, steps + 1):
        q = w[:, 0]
        r = np.sum(V * w, axis=1)
        nw = np.sqrt(np.sum(w * w, axis=1))
        # real samples y = e_1 c + sqrt(eT) a
        c = sL * rng.standard_normal((S, B))
        A = rng.standard_normal((S, n, B), dtype=np.float32)
        x = c * q[:, None] + np.sqrt(eT) * (w.astype(np.float32)[:, None, :] @ A)[:, 0, :]
        G = np.sqrt(eT) * (A @ x.astype(np.float32)[:, :, None])[:, :, 0].astype(np.float64)
        G[:, 0] += np.sum(c * x, axis=1)
        # discriminator's fake samples y~ = V c~ + sqrt(eG) a~
        ct = sLt * rng.standard_normal((S, B))
        At = rng.standard_normal((S, n, B), dtype=np.float32)
        xt = ct * r[:, None] + np.sqrt(eG) * (w.astype(np.float32)[:, None, :] @ At)[:, 0, :]
        G -= np.sqrt(eG) * (At @ xt.astype(np.float32)[:, :, None])[:, :, 0].astype(np.float64)
        G -= np.sum(ct * xt, axis=1)[:, None] * V
        # generator's fresh fake samples: only their scores enter (exact in law)
        cg = sLt * rng.standard_normal((S, B))
        xg = cg * r[:, None] + np.sqrt(eG) * nw[:, None] * rng.standard_normal((S, B))
        dV = (taut / n) * np.mean(cg * xg, axis=1)[:, None] * w
        w = w + (tau / n) * G / B
        V = V + dV
        w /= np.sqrt(np.sum(w * w, axis=1))[:, None]
        V /= np.sqrt(np.sum(V * V, axis=1))[:, None]
        if k % rec_every == 0:
            record(k)
    return np.array(times), np.array(recs).transpose(1, 0, 2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--B", type=int, default=4)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--T", type=float, default=6.0)
    ap.add_argument("--seed", type=int, default=3)
    a = ap.parse_args()
    t0 = time.time()
    ts, sims = simulate(a.n, a.B, a.seeds, a.T, a.n // 2, a.seed)
    print(f"n = {a.n}, B = {a.B}, {a.seeds} seeds, T = {a.T}: {time.time() - t0:.1f}s")
    cands = {"ito/B (claim)": 1.0 / a.B, "ito x 1 (wrong)": 1.0, "ito/B^2 (wrong)": 1.0 / a.B ** 2,
             "no ito (wrong)": 0.0}
    if a.B == 1:
        cands = {"ito x 1 (claim, B = 1)": 1.0, "ito/4 (wrong)": 0.25, "no ito (wrong)": 0.0}
    print(f"{'t':>5} {'sim mean P q r':>24} {'(SE)':>20}   " + "   ".join(list(cands)[:2]))
    sols = {k: free_coords(ode_solve(M0, PRM, ts[-1], ts, ito=v), 1, np.inf)[1] for k, v in cands.items()}
    # finite-beta map: "mean" with rate tau = "sum" with rate tau / B, beta = B / n, one map step
    # per SGDA step (the regime-1 ODE is its beta -> 0 limit; the O(B/n) difference is visible
    # once the noise, which shrinks like 1/sqrt(n B), is small enough)
    pB = dict(PRM, tau=PRM["tau"] / a.B, taut=PRM["taut"] / a.B)
    M, recs = M0.copy(), [M0.copy()]
    steps_per_rec = a.n // 2
    for k in range(1, int(round(ts[-1] * a.n)) + 1):
        M = phi(M, pB, a.B / a.n, "sim")
        if k % steps_per_rec == 0:
            recs.append(M.copy())
    sols["Phi_{B/n} map iterated"] = free_coords(np.array(recs), 1, np.inf)[1]
    mean = sims.mean(0)
    se = sims.std(0, ddof=1) / np.sqrt(sims.shape[0])
    for i in range(len(ts)):
        if i % 2:
            continue
        line = f"{ts[i]:5.1f} " + " ".join(f"{v:7.3f}" for v in mean[i]) + "  (" + " ".join(f"{v:.3f}" for v in se[i]) + ")"
        for k, s in list(sols.items())[:2]:
            line += "   " + " ".join(f"{v:6.3f}" for v in s[i])
        print(line)
    for k, s in sols.items():
        z = np.abs(mean[1:] - s[1:]) / se[1:]
        rms = np.sqrt(((sims[:, 1:] - s[None, 1:]) ** 2).mean())
        print(f"{k:>24}: max |z| = {z.max():7.2f}, rms error = {rms:.4f}, rms*sqrt(n) = {rms*np.sqrt(a.n):.3f}")
    print(f"wall {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
