"""Deterministic maps and ODEs for minibatch SGDA in the solvable GAN (p = 1, quadratic loss).

State: the Gram matrix M of X = [U, V, w] (m = 2d + 1), indices U: 0..d-1, V: d..2d-1, w: 2d.
Params: dict with d, Lam, Lamt (d x d second moments), eT, eG, tau, taut, lam (float or np.inf).

Maps (regime 2, B = beta n, "sum" convention, regulariser counted once per sample):
  phi_D(M, beta)   discriminator step (+ projection of w if lam = inf)
  phi_G(M, beta)   generator step (+ column projection of V if lam = inf)
  phi_sim(M, beta) simultaneous step
  dfirst = phi_G o phi_D,  gfirst = phi_D o phi_G,  kD steps: phi_G o phi_D^kD

Variants used as negative controls: noise=False drops the tau^2 beta b term, lin=True keeps
only the first order in beta (M + beta F).
"""
import numpy as np


def Hp(x):
    return np.tanh(x - 1.0)


def idx(d):
    iU = np.arange(d)
    iV = np.arange(d, 2 * d)
    iw = 2 * d
    return iU, iV, iw


def blocks(M, d):
    iU, iV, iw = idx(d)
    P = M[np.ix_(iU, iV)]
    q = M[iU, iw]
    r = M[iV, iw]
    S = M[np.ix_(iV, iV)]
    z = M[iw, iw]
    return P, q, r, S, z


def assemble(P, q, r, S, z):
    d = len(q)
    m = 2 * d + 1
    M = np.zeros((m, m))
    iU, iV, iw = idx(d)
    M[np.ix_(iU, iU)] = np.eye(d)
    M[np.ix_(iU, iV)] = P
    M[np.ix_(iV, iU)] = P.T
    M[np.ix_(iV, iV)] = S
    M[iU, iw] = q
    M[iw, iU] = q
    M[iV, iw] = r
    M[iw, iV] = r
    M[iw, iw] = z
    return M


def _sig(u):
    return 0.5 * (1.0 + np.tanh(0.5 * u))


LOSSES = {
    # name: (f, f', f~, f~')  with bias b0 = 1 (THEORY section 1, "logistic")
    "logistic": (lambda x: x * _sig(1.0 - x * x / 2),
                 lambda x: _sig(1.0 - x * x / 2) - x * x * _sig(1.0 - x * x / 2) * (1 - _sig(1.0 - x * x / 2)),
                 lambda x: x * _sig(x * x / 2 - 1.0),
                 lambda x: _sig(x * x / 2 - 1.0) + x * x * _sig(x * x / 2 - 1.0) * (1 - _sig(x * x / 2 - 1.0))),
}
_GH = np.polynomial.hermite_e.hermegauss(200)
_GHw = _GH[1] / np.sqrt(2 * np.pi)


def gauss_avg(fun, s):
    """E[fun(s T)], T ~ N(0, 1), by 200-node Gauss-Hermite quadrature."""
    return float(np.sum(_GHw * fun(s * _GH[0])))


def averages(M, prm):
    """g, g~, h0 (Stein term + regulariser), b (Ito coefficient).  Quadratic loss in closed
    form; prm['loss'] = 'logistic' with zero-mean Gaussian latents (second moments Lam, Lam~)
    by quadrature in the score's standard deviation."""
    d = prm["d"]
    P, q, r, S, z = blocks(M, d)
    Lam, Lamt, eT, eG = prm["Lam"], prm["Lamt"], prm["eT"], prm["eG"]
    loss = prm.get("loss", "quadratic")
    if loss == "quadratic":
        g = Lam @ q
        gt = Lamt @ r
        h0 = eT - eG
        b = eT * (q @ Lam @ q + eT * z) + eG * (r @ Lamt @ r + eG * z)
    else:
        f, fp, ft, ftp = LOSSES[loss]
        sT = np.sqrt(q @ Lam @ q + eT * z)
        sG = np.sqrt(r @ Lamt @ r + eG * z)
        g = Lam @ q * gauss_avg(fp, sT)
        gt = Lamt @ r * gauss_avg(ftp, sG)
        h0 = eT * gauss_avg(fp, sT) - eG * gauss_avg(ftp, sG)
        b = eT * gauss_avg(lambda x: f(x) ** 2, sT) + eG * gauss_avg(lambda x: ft(x) ** 2, sG)
    if np.isfinite(prm["lam"]):
        h0 = h0 - prm["lam"] * Hp(z)
    return g, gt, h0, b


def rhs_from_map(M, prm):
    """F(M) = K1^T M + M K1 + tau^2 b e_w e_w^T (the beta -> 0 derivative of the map, i.e. the
    general ODE of THEORY 4 for any loss), projected as in THEORY 4.1 when lambda = inf."""
    d = prm["d"]
    iU, iV, iw = idx(d)
    KD, nz = K_disc(M, prm, 1.0)
    KG = K_gen(M, prm, 1.0)
    K1 = KD + KG - 2 * np.eye(M.shape[0])
    F = K1.T @ M + M @ K1
    F[iw, iw] += nz
    if not np.isfinite(prm["lam"]):
        cols = list(iV) + [iw]
        dg = np.zeros(M.shape[0])
        dg[cols] = np.diag(F)[cols] / np.diag(M)[cols]
        F = F - 0.5 * M * (dg[:, None] + dg[None, :])
    return F


def normalise(M, cols):
    s = np.ones(M.shape[0])
    s[cols] = 1.0 / np.sqrt(np.diag(M)[cols])
    return M * s[:, None] * s[None, :]


def K_disc(M, prm, beta):
    d = prm["d"]
    iU, iV, iw = idx(d)
    g, gt, h0, b = averages(M, prm)
    a = prm["tau"] * beta
    K = np.eye(M.shape[0])
    K[iU, iw] = a * g
    K[iV, iw] = -a * gt
    K[iw, iw] = 1.0 + a * h0
    noise = prm["tau"] ** 2 * beta * b
    return K, noise


def K_gen(M, prm, beta):
    d = prm["d"]
    iU, iV, iw = idx(d)
    P, q, r, S, z = blocks(M, d)
    gt = averages(M, prm)[1]
    at = prm["taut"] * beta
    K = np.eye(M.shape[0])
    if np.isfinite(prm["lam"]):
        L = -prm["lam"] * Hp(np.diag(S))
        K[np.ix_(iV, iV)] = np.eye(d) + at * np.diag(L)
    K[iw, iV] = at * gt
    return K


def _apply(M, K, noise, iw, use_noise):
    Mn = K.T @ M @ K
    if use_noise:
        Mn[iw, iw] += noise
    return Mn


def phi_D(M, prm, beta, noise=True):
    d = prm["d"]
    iU, iV, iw = idx(d)
    K, nz = K_disc(M, prm, beta)
    Mn = _apply(M, K, nz, iw, noise)
    if not np.isfinite(prm["lam"]):
        Mn = normalise(Mn, [iw])
    return Mn


def phi_G(M, prm, beta):
    d = prm["d"]
    iU, iV, iw = idx(d)
    K = K_gen(M, prm, beta)
    Mn = K.T @ M @ K
    if not np.isfinite(prm["lam"]):
        Mn = normalise(Mn, list(iV))
    return Mn


def phi_sim(M, prm, beta, noise=True):
    d = prm["d"]
    iU, iV, iw = idx(d)
    KD, nz = K_disc(M, prm, beta)
    KG = K_gen(M, prm, beta)
    K = KD + KG - np.eye(M.shape[0])  # each player's column(s) from the old state
    Mn = _apply(M, K, nz, iw, noise)
    if not np.isfinite(prm["lam"]):
        Mn = normalise(Mn, list(iV) + [iw])
    return Mn


def phi(M, prm, beta, order="sim", kD=1, noise=True):
    if order == "sim":
        return phi_sim(M, prm, beta, noise)
    if order == "dfirst":
        for _ in range(kD):
            M = phi_D(M, prm, beta, noise)
        return phi_G(M, prm, beta)
    if order == "gfirst":
        M = phi_G(M, prm, beta)
        for _ in range(kD):
            M = phi_D(M, prm, beta, noise)
        return M
    raise ValueError(order)


def iterate(M0, prm, beta, J, order="sim", noise=True, lin=False, kD=1):
    out = [M0.copy()]
    M = M0.copy()
    for _ in range(J):
        if lin:
            M = M + beta * (rhs_theory(M, prm) if prm.get("loss", "quadratic") == "quadratic"
                            else rhs_from_map(M, prm))
            if not np.isfinite(prm["lam"]):
                d = prm["d"]
                iU, iV, iw = idx(d)
                M = normalise(M, list(iV) + [iw])
        else:
            M = phi(M, prm, beta, order, kD=kD, noise=noise)
        out.append(M.copy())
    return np.array(out)


# ---------------------------------------------------------------- ODEs written from THEORY
def rhs_theory(M, prm, ito=1.0):
    """Right-hand side dM/dt of THEORY section 4 (finite lam) or 4.1 (lam = inf), written
    independently of the maps above. ito multiplies the Ito terms (tau^2 b)."""
    d = prm["d"]
    P, q, r, S, z = blocks(M, d)
    Lam, Lamt, eT, eG = prm["Lam"], prm["Lamt"], prm["eT"], prm["eG"]
    tau, taut = prm["tau"], prm["taut"]
    if np.isfinite(prm["lam"]):
        lam = prm["lam"]
        g = Lam @ q
        gt = Lamt @ r
        h = eT - eG - lam * Hp(z)
        L = np.diag(-lam * Hp(np.diag(S)))
        b = eT * (q @ Lam @ q + eT * z) + eG * (r @ Lamt @ r + eG * z)
        dP = taut * (np.outer(q, gt) + P @ L)
        dq = tau * (g - P @ gt + h * q)
        dr = tau * (P.T @ g - S @ gt + h * r) + taut * (z * gt + L @ r)
        dS = taut * (np.outer(r, gt) + np.outer(gt, r) + S @ L + L @ S)
        dz = 2 * tau * (q @ g - r @ gt + z * h) + ito * tau ** 2 * b
    else:
        eta2 = (eT ** 2 + eG ** 2) / 2
        L = np.diag(-r * (Lamt @ r))
        h = ((1 - ito * tau * eG / 2) * (r @ Lamt @ r) - (1 + ito * tau * eT / 2) * (q @ Lam @ q)
             - ito * tau * eta2)
        dP = taut * (np.outer(q, r) @ Lamt + P @ L)
        dq = tau * (Lam @ q - P @ Lamt @ r + h * q)
        dr = tau * (P.T @ Lam @ q - S @ Lamt @ r + h * r) + taut * (Lamt + L) @ r
        dS = taut * (np.outer(r, r) @ Lamt + Lamt @ np.outer(r, r) + S @ L + L @ S)
        dz = 0.0
    return assemble(dP, dq, dr, dS, dz) - _Ublock(d)


def _Ublock(d):
    # assemble() puts the identity in the U block; remove it so the U block of dM is zero
    m = 2 * d + 1
    Z = np.zeros((m, m))
    Z[:d, :d] = np.eye(d)
    return Z


def ode_solve(M0, prm, T, ts, ito=1.0, kD=1, general=False):
    """Integrate the ODE (taut rescaled by 1/kD) with scipy's RK45 to tight tolerance."""
    from scipy.integrate import solve_ivp
    m = M0.shape[0]
    prm2 = dict(prm)
    prm2["taut"] = prm["taut"] / kD

    def f(t, y):
        if general:
            return rhs_from_map(y.reshape(m, m), prm2).ravel()
        return rhs_theory(y.reshape(m, m), prm2, ito).ravel()

    sol = solve_ivp(f, (0, T), M0.ravel(), t_eval=ts, rtol=1e-10, atol=1e-12, method="DOP853")
    return sol.y.T.reshape(-1, m, m)


def free_coords(M, d, lam):
    """Entries reported: P, q, r, S (upper, incl. diagonal if lam finite), z if lam finite."""
    iU, iV, iw = idx(d)
    names, vals = [], []
    for i in range(d):
        for j in range(d):
            names.append(f"P{i+1}{j+1}")
            vals.append(M[..., iU[i], iV[j]])
    for i in range(d):
        names.append(f"q{i+1}")
        vals.append(M[..., iU[i], iw])
    for i in range(d):
        names.append(f"r{i+1}")
        vals.append(M[..., iV[i], iw])
    for i in range(d):
        for j in range(i, d):
            if i == j and not np.isfinite(lam):
                continue
            names.append(f"S{i+1}{j+1}")
            vals.append(M[..., iV[i], iV[j]])
    if np.isfinite(lam):
        names.append("z")
        vals.append(M[..., iw, iw])
    return names, np.stack(vals, axis=-1)
