"""sd of M_j - Phi^j(M_0) times sqrt(n), per step and entry (P, q, r), 100 fast (exact-in-law) runs,
setting A, d-first order, beta = 2 (the noisiest case of the table): constant in n means O(n^-1/2)."""
import os
os.environ["OPENBLAS_NUM_THREADS"]="1"
import numpy as np
from maps import iterate, free_coords
from sim_minibatch import run
from check_regime2 import SETTINGS
st=SETTINGS['A']; prm,M0=st['prm'],st['M0']
_,mp=free_coords(iterate(M0,prm,2.0,3,'dfirst'),1,np.inf)
print(mp.round(4))
for n in (4000,16000,64000,256000):
    S=np.array([free_coords(run(M0,n,2.0,3,prm,9+s,'dfirst','fast')[0],1,np.inf)[1] for s in range(100)])
    D=S-mp
    print(n, 'sd*sqrt(n) per step/entry', (D.std(0)*np.sqrt(n)).round(2).tolist(), 'max abs', np.abs(D).max().round(3), 'mean', D.mean(0)[-1].round(4))
