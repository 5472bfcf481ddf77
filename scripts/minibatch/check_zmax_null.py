"""How large is max z under the correct map? 15 independent batches of 20 fast runs each (setting A,
sim, beta = 0.1, 60 steps x 3 entries, n = 4000): distribution of the batch's max |mean|/SE.
Usage: check_zmax_null.py [n]"""
import os
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np
from maps import iterate, free_coords
from sim_minibatch import run
from check_regime2 import SETTINGS
st = SETTINGS["A"]
prm, M0 = st["prm"], st["M0"]
_, mp = free_coords(iterate(M0, prm, 0.1, 60, "sim"), 1, np.inf)
import sys
n = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
zs = []
for rep in range(15):
    S = np.array([free_coords(run(M0, n, 0.1, 60, prm, 77777 + 100 * rep + s, "sim", "fast")[0], 1, np.inf)[1]
                  for s in range(20)])
    D = S - mp[None]
    zs.append((np.abs(D.mean(0)[1:]) / (D.std(0, ddof=1)[1:] / np.sqrt(20))).max())
zs = np.sort(zs)
print(f"max z of 15 batches (20 runs each, n = {n}, beta = 0.1):", np.round(zs, 2))
print(f"median {np.median(zs):.2f}, max {zs.max():.2f}")
