"""The entry-wise formulas of derivation.md (section 2.4 / 2.5), implemented as written, must equal
the matrix form M+ = K^T M K + tau^2 beta b e_w e_w^T of maps.py (to round-off), for
d = 1, 2, 3, finite lambda and lambda = inf, orders sim / dfirst / gfirst.  The d = 1,
lambda = inf scalar formulas of 2.5 are checked too.
Run: python3 check_formulas.py
"""
import numpy as np

from maps import phi, blocks, assemble, Hp

rng = np.random.default_rng(5)


def entries_D(P, q, r, S, z, p, beta):
    Lam, Lamt, eT, eG, tau, lam = p["Lam"], p["Lamt"], p["eT"], p["eG"], p["tau"], p["lam"]
    a = tau * beta
    g, gt = Lam @ q, Lamt @ r
    h0 = eT - eG - (lam * Hp(z) if np.isfinite(lam) else 0.0)
    b = eT * (q @ Lam @ q + eT * z) + eG * (r @ Lamt @ r + eG * z)
    uU = g - P @ gt + h0 * q
    uV = P.T @ g - S @ gt + h0 * r
    uw = q @ g - r @ gt + h0 * z
    uu = g @ g - 2 * g @ P @ gt + gt @ S @ gt + 2 * h0 * (q @ g - r @ gt) + h0 ** 2 * z
    return a, uU, uV, uw, uu, b


def gen_coeffs(P, q, r, S, z, p, beta):
    at = p["taut"] * beta
    d = len(q)
    L = -p["lam"] * Hp(np.diag(S)) if np.isfinite(p["lam"]) else np.zeros(d)
    Gam = np.diag(1 + at * L)
    gam = at * (p["Lamt"] @ r)
    return Gam, gam


def proj(P, q, r, S, z, which):
    if "w" in which:
        q, r, z = q / np.sqrt(z), r / np.sqrt(z), 1.0
    if "V" in which:
        s = np.sqrt(np.diag(S))
        P, r, S = P / s[None, :], r / s, S / np.outer(s, s)
    return P, q, r, S, z


def Phi_D(P, q, r, S, z, p, beta):
    a, uU, uV, uw, uu, b = entries_D(P, q, r, S, z, p, beta)
    out = (P, q + a * uU, r + a * uV, S, z + 2 * a * uw + a ** 2 * uu + p["tau"] ** 2 * beta * b)
    return proj(*out, "w") if not np.isfinite(p["lam"]) else out


def Phi_G(P, q, r, S, z, p, beta):
    Gam, gam = gen_coeffs(P, q, r, S, z, p, beta)
    out = (P @ Gam + np.outer(q, gam), q, Gam @ r + z * gam,
           Gam @ S @ Gam + Gam @ np.outer(r, gam) + np.outer(gam, r) @ Gam + z * np.outer(gam, gam), z)
    return proj(*out, "V") if not np.isfinite(p["lam"]) else out


def Phi_sim(P, q, r, S, z, p, beta):
    a, uU, uV, uw, uu, b = entries_D(P, q, r, S, z, p, beta)
    Gam, gam = gen_coeffs(P, q, r, S, z, p, beta)
    out = (P @ Gam + np.outer(q, gam), q + a * uU, Gam @ (r + a * uV) + gam * (z + a * uw),
           Gam @ S @ Gam + Gam @ np.outer(r, gam) + np.outer(gam, r) @ Gam + z * np.outer(gam, gam),
           z + 2 * a * uw + a ** 2 * uu + p["tau"] ** 2 * beta * b)
    return proj(*out, "wV") if not np.isfinite(p["lam"]) else out


def scalar_d1(P, q, r, p, beta, order):
    """d = 1, lambda = inf, scalar formulas of derivation.md 2.5."""
    Lm, Lt, eT, eG, tau, taut = p["Lam"][0, 0], p["Lamt"][0, 0], p["eT"], p["eG"], p["tau"], p["taut"]
    a, at, h0 = tau * beta, taut * beta, eT - eG

    def D(P, q, r):
        kap = Lm * q * q - Lt * r * r + h0
        Aq = q + a * (Lm * q - Lt * P * r + h0 * q)
        Ar = r + a * (Lm * P * q - Lt * r + h0 * r)
        Z = (1 + 2 * a * kap + a * a * ((Lm * q) ** 2 - 2 * Lm * Lt * P * q * r + (Lt * r) ** 2
                                          + 2 * h0 * (Lm * q * q - Lt * r * r) + h0 ** 2)
             + tau ** 2 * beta * (eT * (Lm * q * q + eT) + eG * (Lt * r * r + eG)))
        return Aq, Ar, Z, kap

    def G(P, q, r):
        gam = at * Lt * r
        s = np.sqrt(1 + 2 * gam * r + gam * gam)
        return (P + gam * q) / s, q, (r + gam) / s

    if order == "dfirst":
        Aq, Ar, Z, _ = D(P, q, r)
        return G(P, Aq / np.sqrt(Z), Ar / np.sqrt(Z))
    if order == "gfirst":
        P, q, r = G(P, q, r)
        Aq, Ar, Z, _ = D(P, q, r)
        return P, Aq / np.sqrt(Z), Ar / np.sqrt(Z)
    Aq, Ar, Z, kap = D(P, q, r)
    gam = at * Lt * r
    s = np.sqrt(1 + 2 * gam * r + gam * gam)
    return (P + gam * q) / s, Aq / np.sqrt(Z), (Ar + gam * (1 + a * kap)) / (s * np.sqrt(Z))


def random_M(d, lam):
    m = 2 * d + 1
    while True:
        X = rng.standard_normal((m + 3, m)) * 0.6
        X[:, :d] = 0
        X[:d, :d] = np.eye(d)
        M = X.T @ X
        if np.linalg.eigvalsh(M).min() > 1e-3:
            break
    if not np.isfinite(lam):
        s = 1 / np.sqrt(np.diag(M))
        M = M * s[:, None] * s[None, :]
    return M


worst = 0.0
for d in (1, 2, 3):
    for lam in (np.inf, 1.5):
        A = rng.standard_normal((d, d))
        At = rng.standard_normal((d, d))
        p = dict(d=d, Lam=A @ A.T + np.eye(d), Lamt=At @ At.T + 0.5 * np.eye(d), eT=1.3, eG=0.6,
                 tau=0.7, taut=0.9, lam=lam)
        M = random_M(d, lam)
        for beta in (0.1, 1.0, 2.0):
            st = blocks(M, d)
            for order in ("sim", "dfirst", "gfirst"):
                if order == "sim":
                    E = Phi_sim(*st, p, beta)
                elif order == "dfirst":
                    E = Phi_G(*Phi_D(*st, p, beta), p, beta)
                else:
                    E = Phi_D(*Phi_G(*st, p, beta), p, beta)
                Mr = phi(M, p, beta, order)
                err = np.abs(assemble(*E) - Mr).max() / max(1.0, np.abs(Mr).max())
                worst = max(worst, err)
                if d == 1 and not np.isfinite(lam):
                    P, q, r = M[0, 1], M[0, 2], M[1, 2]
                    sc = scalar_d1(P, q, r, p, beta, order)
                    Mm = phi(M, p, beta, order)
                    err1 = max(abs(sc[0] - Mm[0, 1]), abs(sc[1] - Mm[0, 2]), abs(sc[2] - Mm[1, 2]))
                    worst = max(worst, err1)
print(f"max relative |entry formulas - K^T M K form| over d = 1..3, lam in (inf, 1.5), beta in (0.1, 1, 2), "
      f"3 orders: {worst:.2e}")
assert worst < 1e-10
