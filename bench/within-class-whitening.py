"""Does whitening by the training classes' within-class covariance help few-shot episodes?
(BENCHMARKS.md, "Issue 15: test-time shifts": checked on the validation alphabets, left out.)

Features X are mapped to X (Sw + s I)^(-1/2), Sw the within-class covariance of the training
classes' features and s = lam * trace(Sw) / D; nearest class mean on 300 20-way episodes (1-shot,
5-shot, 1-shot within one alphabet; numpy's own episode sampler, seed 7, so the figures are not
those of `protolens bench episodes`, only compared with each other).

    python3 bench/within-class-whitening.py TRAIN.npy VALIDATION.npy
    (feature files with .json sidecars, e.g. from `protolens extract DIR -b /work/models/g-test --tta 1`)
"""
import json
import sys

import numpy as np


def load(path):
    X = np.load(path).astype(np.float64)
    labels = json.load(open(path[:-4] + '.json'))['labels']
    return X, np.array(labels)


def main(train_path, val_path):
    Xt, Lt = load(train_path)
    Xv, Lv = load(val_path)
    classes = np.unique(Lt)
    mu = np.array([Xt[Lt == c].mean(0) for c in classes])
    R = Xt - mu[np.searchsorted(classes, Lt)]
    Sw = R.T @ R / len(R)
    rng = np.random.default_rng(7)
    vc = np.unique(Lv)
    groups = np.array([c.split('/')[0] for c in vc])
    index = {c: np.where(Lv == c)[0] for c in vc}

    def episodes(n, way, shot, queries, within):
        out = []
        for _ in range(n):
            if within:
                g = rng.choice([g for g in np.unique(groups) if (groups == g).sum() >= way])
                pool = vc[groups == g]
            else:
                pool = vc
            chosen = rng.choice(pool, way, replace=False)
            support, query = [], []
            for c in chosen:
                p = rng.permutation(index[c])
                support.append(p[:shot])
                query.append(p[shot:shot + queries])
            out.append((support, query))
        return out

    def accuracy(X, eps):
        a = []
        for support, query in eps:
            P = np.array([X[s].mean(0) for s in support])
            Q = np.concatenate([X[q] for q in query])
            y = np.repeat(np.arange(len(query)), [len(q) for q in query])
            d = ((Q[:, None, :] - P[None]) ** 2).sum(-1)
            a.append((d.argmin(1) == y).mean())
        return 100 * np.mean(a)

    one, five, within = episodes(300, 20, 1, 15, False), episodes(300, 20, 5, 15, False), episodes(300, 20, 1, 15, True)
    w, V = np.linalg.eigh(Sw)
    for lam in [None, 1.0, 0.3, 0.1, 0.03, 0.01]:
        if lam is None:
            X = Xv
        else:
            s = lam * np.trace(Sw) / len(Sw)
            X = Xv @ (V @ np.diag(1 / np.sqrt(w + s)) @ V.T)
        print('no whitening' if lam is None else f'lam {lam}', 'one-shot %.2f' % accuracy(X, one),
              'five-shot %.2f' % accuracy(X, five), 'one-shot within %.2f' % accuracy(X, within))


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
