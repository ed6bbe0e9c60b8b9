"""numpy reference of protolens's prototype-model training, for bench/model.ts.

Same algorithm, same fixed amount of work as the TypeScript run it is compared with:
k-means++ + Lloyd initialisation per class, then `outer` iterations of
(class step: `class_iter` L-BFGS iterations on W with Q fixed, Armijo backtracking)
+ (prototype step: move towards the proximity-weighted means, backtracked).
float32 throughout, like protolens. Reads the data bench/model.ts wrote.

usage: python3 bench/numpy_model.py DIR J OUTER CLASS_ITER
"""
import json
import sys
import time

import numpy as np


def softmax_rows(a):
    a = a - a.max(axis=1, keepdims=True)
    np.exp(a, out=a)
    a /= a.sum(axis=1, keepdims=True)
    return a


def compute_q(X, xn, P, tau):
    d = xn[:, None] + (P * P).sum(1)[None, :] - 2.0 * (X @ P.T)
    np.maximum(d, 0, out=d)
    return softmax_rows(d * np.float32(-1.0 / (2 * tau)))


def class_obj(Q, W, y, alpha):
    N = Q.shape[0]
    Z = Q @ W
    m = Z.max(1, keepdims=True)
    lse = (m[:, 0] + np.log(np.exp(Z - m).sum(1)))
    nll = float((lse - Z[np.arange(N), y]).mean())
    C = np.exp(Z - lse[:, None])
    G = C / N
    G[np.arange(N), y] -= 1.0 / N
    gW = Q.T @ G + 2 * alpha * W
    return nll + alpha * float((W * W).sum()), gW.astype(np.float32), G


def lbfgs(f, x0, iters, mem=10):
    """L-BFGS as in src/linalg/optim.ts: two-loop recursion, Armijo backtracking, same stops."""
    x = x0.astype(np.float64).ravel()
    fx, g = f(x)
    S, Y = [], []
    evals = 1
    for _ in range(iters):
        d = -g.copy()
        al = []
        for s, yv in reversed(list(zip(S, Y))):
            a = s @ d / (yv @ s)
            al.append(a)
            d -= a * yv
        if S:
            d *= (S[-1] @ Y[-1]) / (Y[-1] @ Y[-1])
        else:
            gn_ = np.abs(g).max()
            d *= min(1.0, 1.0 / gn_) if gn_ > 0 else 1.0
        for (s, yv), a in zip(zip(S, Y), reversed(al)):
            b = yv @ d / (yv @ s)
            d += (a - b) * s
        slope = g @ d
        if not slope < 0:
            break
        step = 1.0
        accepted = False
        for _ls in range(30):
            xn = x + step * d
            fn, gn = f(xn)
            evals += 1
            if np.isfinite(fn) and fn <= fx + 1e-4 * step * slope:
                accepted = True
                break
            step *= 0.5
        if not accepted:
            break
        s, yv = xn - x, gn - g
        if s @ yv > 1e-12 * np.sqrt((s @ s) * (yv @ yv)):
            S.append(s)
            Y.append(yv)
            if len(S) > mem:
                S.pop(0)
                Y.pop(0)
        f_old = fx
        x, fx, g = xn, fn, gn
        # Same stopping rules as src/linalg/optim.ts (gtol 1e-7, ftol 1e-10 in the class step).
        if np.abs(g).max() <= 1e-7 or f_old - fx <= 1e-10 * max(1.0, abs(f_old)):
            break
    return x, fx, evals


def kmeanspp(Xc, k, rng, lloyd=10):
    n = Xc.shape[0]
    C = [Xc[rng.integers(n)]]
    dmin = ((Xc - C[0]) ** 2).sum(1)
    for _ in range(1, k):
        p = dmin / dmin.sum() if dmin.sum() > 0 else None
        C.append(Xc[rng.choice(n, p=p)])
        dmin = np.minimum(dmin, ((Xc - C[-1]) ** 2).sum(1))
    C = np.array(C)
    for _ in range(lloyd):
        a = (((Xc[:, None, :] - C[None]) ** 2).sum(2)).argmin(1)
        for c in range(k):
            if (a == c).any():
                C[c] = Xc[a == c].mean(0)
    return C


def main():
    d, J, outer, class_iter = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    meta = json.load(open(f"{d}/meta.json"))
    N, D, L = meta["N"], meta["D"], meta["L"]
    X = np.fromfile(f"{d}/X.f32", dtype=np.float32).reshape(N, D)
    y = np.fromfile(f"{d}/y.i32", dtype=np.int32)
    alpha, tau = np.float32(meta["alpha"]), meta["tau"]
    rng = np.random.default_rng(0)
    t0, c0 = time.perf_counter(), time.process_time()
    counts = np.bincount(y, minlength=L)
    alloc = np.ones(L, dtype=int)
    extra = J - L
    share = extra * (counts - 1) / (counts - 1).sum()
    alloc += np.floor(share).astype(int)
    rem = J - alloc.sum()
    alloc[np.argsort(-(share - np.floor(share)), kind="stable")[:rem]] += 1
    P = np.concatenate([kmeanspp(X[y == c], alloc[c], rng) for c in range(L)]).astype(np.float32)
    pc = np.repeat(np.arange(L), alloc)
    W = np.zeros((J, L), dtype=np.float32)
    W[np.arange(J), pc] = 1
    xn = (X * X).sum(1)
    t_init = time.perf_counter() - t0
    evals = 0
    for _ in range(outer):
        Q = compute_q(X, xn, P, tau)

        def f(w):
            v, g, _ = class_obj(Q, w.reshape(J, L).astype(np.float32), y, alpha)
            return v, g.ravel().astype(np.float64)

        w, fx, e = lbfgs(f, W, class_iter)
        evals += e
        W = w.reshape(J, L).astype(np.float32)
        # Prototype step.
        loss, _, G = class_obj(Q, W, y, alpha)
        H = G @ W.T
        E = Q * (H - (Q * H).sum(1, keepdims=True))
        S = -E.sum(0)
        gP = (E.T @ X - (-S)[:, None] * P) / tau
        spos = S[S > 0].mean() if (S > 0).any() else 1.0
        sj = np.where(S > 1e-12 * spos, S, spos)
        delta = -(tau / sj)[:, None] * gP
        slope = float((gP * delta).sum())
        eta = 1.0
        for _bt in range(25):
            Pt = (P + eta * delta).astype(np.float32)
            Qt = compute_q(X, xn, Pt, tau)
            lt, _, _ = class_obj(Qt, W, y, alpha)
            if lt <= loss + 1e-4 * eta * slope and lt < loss:
                P = Pt
                break
            eta *= 0.5
    t_fit, c_fit = time.perf_counter() - t0, time.process_time() - c0
    final_loss, _, _ = class_obj(compute_q(X, xn, P, tau), W, y, alpha)
    # Predict on X as on new data (its norms included, as protolens's predict computes them, with
    # einsum: 13 ms against 50 for (X * X).sum(1) and its 80 MB temporary); best of 3 calls, like
    # bench/model.ts.
    t_pred = c_pred = float("inf")
    for _ in range(3):
        t1, c1 = time.perf_counter(), time.process_time()
        Q = compute_q(X, np.einsum("ij,ij->i", X, X), P, tau)
        pred = (Q @ W).argmax(1)
        t_pred, c_pred = min(t_pred, time.perf_counter() - t1), min(c_pred, time.process_time() - c1)
    print(json.dumps({"fit_s": t_fit, "fit_cpu_s": c_fit, "init_s": t_init, "predict_s": t_pred, "predict_cpu_s": c_pred,
                      "class_evals": evals, "final_loss": float(final_loss),
                      "train_accuracy": float((pred == y).mean()), "numpy": np.__version__}))


if __name__ == "__main__":
    main()
