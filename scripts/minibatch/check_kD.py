"""k_D = 3 discriminator steps per generator step (regime 2, setting A, fast exact-in-law runs):
simulated M_j vs Phi_G o Phi_D^3 (d-first) and Phi_D^3 o Phi_G (g-first); wrong variants: the
k_D = 1 map with taut / k_D run for k_D J steps (same sample time), the online ODE with taut / k_D in sample time s = beta * (discriminator steps).
Usage: check_kD.py"""
import os
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np
from maps import iterate, ode_solve, free_coords
from sim_minibatch import run
from check_regime2 import SETTINGS

st = SETTINGS["A"]
prm, M0 = st["prm"], st["M0"]
kD, seeds = 3, 20
for order in ("dfirst", "gfirst"):
    for beta in (0.5, 1.0):
        J = int(round(6 / (kD * beta)))  # outer steps; sample time kD * beta * J = 6
        ts = np.arange(J + 1) * kD * beta
        V = {"map kD=3": iterate(M0, prm, beta, J, order, kD=kD),
             "kD=1,taut/3,3J steps": iterate(M0, dict(prm, taut=prm["taut"] / kD), beta, kD * J, order)[::kD],
             "ODE taut/3": ode_solve(M0, prm, ts[-1], ts, kD=kD)}
        for n in (4000, 16000):
            S = np.array([free_coords(run(M0, n, beta, J, prm, 31 + s, order, "fast", kD=kD)[0], 1, np.inf)[1]
                          for s in range(seeds)])
            out = []
            for k, Mv in V.items():
                D = S - free_coords(Mv, 1, np.inf)[1][None]
                z = np.abs(D.mean(0)[1:]) / (D.std(0, ddof=1)[1:] / np.sqrt(seeds))
                out.append(f"{k}: zmax {z.max():7.1f} rms {np.sqrt((D[:, 1:]**2).mean()):.2e}")
            print(f"{order} beta {beta} n {n:6d} J {J}: " + " | ".join(out), flush=True)
