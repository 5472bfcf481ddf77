"""Minibatch SGDA simulators for the solvable GAN (p = 1, quadratic loss f = f~ = identity).

literal_run: the literal step with n x B blocks of Gaussian noise (processed in column chunks,
    float32 noise, float64 accumulation; no n x n matrix).  The generator's fake samples
    enter the update only through their scores y~'^T w (the update is w c~'^T y~'^T w), so
    their scores are drawn in law, y~'^T w = c~'^T V^T w + sqrt(eta_G) ||w|| e (exact).
fast_run: the same chain, exact in law with O(n + B) work: for a ~ N(0, I_n),
    a = xi w^ + (I - w^ w^^T) a with xi = a^T w^ independent of the second part, so
    sum_b x_b a_b = (sum_b x_b xi_b) w^ + sqrt(sum_b x_b^2) (I - w^ w^^T) gvec, gvec ~ N(0, I_n).

"sum" convention: w += (tau/n) sum_b [x_b y_b - x~_b y~_b] - tau beta lam H'(z) w,
                  V += (taut/n) sum_b w x~'_b c~'_b^T - taut beta lam V diag H'(S_jj).
With lam = inf the H terms are dropped and w, each column of V are renormalised after the
player's step.  Orders: 'sim' (both read the old state), 'dfirst', 'gfirst'.
"""
import numpy as np

from maps import Hp, assemble, LOSSES


def _fs(prm):
    """(f, f~) of the loss: identity for the quadratic loss."""
    if prm.get("loss", "quadratic") == "quadratic":
        return (lambda x: x), (lambda x: x)
    f, _, ft, _ = LOSSES[prm["loss"]]
    return f, ft


def init_vectors(M0, n, d):
    """X0 = [U, V, w] with X0^T X0 = M0 exactly, U = first d canonical vectors.
    The law of the Gram chain depends only on M0 (the noise is isotropic)."""
    m = 2 * d + 1
    R = np.linalg.cholesky(M0).T  # upper, R^T R = M0, R[:d,:d] = I since M0[:d,:d] = I
    X = np.zeros((n, m))
    X[:m, :] = R
    return X[:, :d].copy(), X[:, d:2 * d].copy(), X[:, 2 * d].copy()


def gram(U, V, w):
    X = np.column_stack([U, V, w])
    return X.T @ X


class Chain:
    def __init__(self, M0, n, beta, prm, seed, mode="literal", chunk_elems=2 ** 23):
        self.d = prm["d"]
        self.n = n
        self.B = int(round(beta * n))
        self.beta = self.B / n
        self.prm = prm
        self.rng = np.random.default_rng(seed)
        self.U, self.V, self.w = init_vectors(M0, n, self.d)
        self.mode = mode
        self.chunk = max(64, chunk_elems // n)
        self.CL = np.linalg.cholesky(prm["Lam"])
        self.CLt = np.linalg.cholesky(prm["Lamt"])

    def latents(self, k, fake):
        Z = self.rng.standard_normal((k, self.d))
        return Z @ (self.CLt if fake else self.CL).T

    # ---- sum_b x_b a_b for scores x_b = C_b . m + sqrt(e) a_b^T w, returns (sum_b x_b c_b, sum_b x_b a_b)
    def _sum_literal(self, base_vec, e, fake):
        n, w = self.n, self.w
        w32 = w.astype(np.float32)
        acc_c = np.zeros(self.d)
        acc_a = np.zeros(n)
        left = self.B
        while left > 0:
            k = min(self.chunk, left)
            left -= k
            C = self.latents(k, fake)
            A = self.rng.standard_normal((n, k), dtype=np.float32)
            x = C @ base_vec + np.sqrt(e) * (A.T @ w32).astype(np.float64)
            x = _fs(self.prm)[1 if fake else 0](x)
            acc_c += C.T @ x
            acc_a += (A @ x.astype(np.float32)).astype(np.float64)
        return acc_c, acc_a

    def _sum_fast(self, base_vec, e, fake):
        w = self.w
        nw = np.linalg.norm(w)
        wh = w / nw
        C = self.latents(self.B, fake)
        xi = self.rng.standard_normal(self.B)
        x = C @ base_vec + np.sqrt(e) * nw * xi
        x = _fs(self.prm)[1 if fake else 0](x)   # f(score): the sample's weight
        gv = self.rng.standard_normal(self.n)
        gv -= (gv @ wh) * wh
        acc_a = (x @ xi) * wh + np.sqrt(x @ x) * gv
        return C.T @ x, acc_a

    def disc_increment(self):
        prm, n = self.prm, self.n
        f = self._sum_literal if self.mode == "literal" else self._sum_fast
        sc, sa = f(self.U.T @ self.w, prm["eT"], False)
        tc, ta = f(self.V.T @ self.w, prm["eG"], True)
        G = self.U @ sc + np.sqrt(prm["eT"]) * sa - self.V @ tc - np.sqrt(prm["eG"]) * ta
        dw = (prm["tau"] / n) * G
        if np.isfinite(prm["lam"]):
            dw -= prm["tau"] * self.beta * prm["lam"] * Hp(self.w @ self.w) * self.w
        return dw

    def gen_increment(self):
        prm, n = self.prm, self.n
        C = self.latents(self.B, True)
        x = C @ (self.V.T @ self.w) + np.sqrt(prm["eG"]) * np.linalg.norm(self.w) * self.rng.standard_normal(self.B)
        x = _fs(prm)[1](x)
        dV = (prm["taut"] / n) * np.outer(self.w, x @ C)
        if np.isfinite(prm["lam"]):
            dV -= prm["taut"] * self.beta * prm["lam"] * self.V * Hp(np.sum(self.V ** 2, axis=0))[None, :]
        return dV

    def proj_w(self):
        if not np.isfinite(self.prm["lam"]):
            self.w /= np.linalg.norm(self.w)

    def proj_V(self):
        if not np.isfinite(self.prm["lam"]):
            self.V /= np.linalg.norm(self.V, axis=0)[None, :]

    def step(self, order="sim", kD=1):
        if order == "sim":
            dw = self.disc_increment()
            dV = self.gen_increment()
            self.w += dw
            self.V += dV
            self.proj_w()
            self.proj_V()
        elif order == "dfirst":
            for _ in range(kD):
                self.w += self.disc_increment()
                self.proj_w()
            self.V += self.gen_increment()
            self.proj_V()
        elif order == "gfirst":
            self.V += self.gen_increment()
            self.proj_V()
            for _ in range(kD):
                self.w += self.disc_increment()
                self.proj_w()
        else:
            raise ValueError(order)

    def M(self):
        return gram(self.U, self.V, self.w)


def run(M0, n, beta, J, prm, seed, order="sim", mode="literal", kD=1):
    ch = Chain(M0, n, beta, prm, seed, mode)
    out = [ch.M()]
    for _ in range(J):
        ch.step(order, kD)
        out.append(ch.M())
    return np.array(out), ch.beta
