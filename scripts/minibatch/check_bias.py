"""Is the mean of M_j - Phi^j(M_0) an O(1/n) bias?  Many fast (exact-in-law) runs at beta = 0.1,
setting A, simultaneous order; prints the largest |mean|, its SE and n * |mean| per n.
Usage: check_bias.py [--seeds 400] [--ns 1000,4000]
"""
import os
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import argparse
import numpy as np
from maps import iterate, free_coords
from sim_minibatch import run
from check_regime2 import SETTINGS

ap = argparse.ArgumentParser()
ap.add_argument("--seeds", type=int, default=400)
ap.add_argument("--ns", default="1000,4000")
ap.add_argument("--beta", type=float, default=0.1)
ap.add_argument("--order", default="sim")
a = ap.parse_args()
st = SETTINGS["A"]
prm, M0 = st["prm"], st["M0"]
J = int(round(6 / a.beta))
_, mp = free_coords(iterate(M0, prm, a.beta, J, a.order), 1, np.inf)
for n in [int(x) for x in a.ns.split(",")]:
    sims = np.array([free_coords(run(M0, n, a.beta, J, prm, 555 + s, a.order, "fast")[0], 1, np.inf)[1]
                     for s in range(a.seeds)])
    D = sims - mp[None]
    mean, se = D.mean(0), D.std(0, ddof=1) / np.sqrt(a.seeds)
    z = np.abs(mean[1:]) / se[1:]
    i = np.unravel_index(np.argmax(z), z.shape)
    m26, s26 = mean[26, 0], se[26, 0]
    print(f"n = {n:6d}: at step 26, entry P: mean diff = {m26:+.2e} +- {s26:.1e}, n * mean = {n*m26:+.1f} +- {n*s26:.1f}")
    print(f"           max|z| = {z.max():.2f} at step {i[0]+1} entry {['P','q','r'][i[1]]}; "
          f"max|mean| = {np.abs(mean).max():.2e}, n*max|mean| = {n*np.abs(mean).max():.2f}, "
          f"sd per seed ~ {D.std(0).max():.3f}, sqrt(n)*sd = {np.sqrt(n)*D.std(0).max():.2f}")
