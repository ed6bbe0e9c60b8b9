/**
 * The paper's prototype layer as a training head on a batch of embeddings, in closed form on
 * Float32Array (no tensors), with its gradient with respect to everything it depends on.
 * Browser-safe. Used by the trainer (train.ts) for the three prototype-layer designs of
 * docs/embedding.md; `protonetLoss` (conv4-gemm.ts) is the prototypical-network head.
 *
 * The layer (Drumond, Viéville & Alexandre 2017), for a sample x with embedding e:
 *
 *   d_j = ‖e − p_j‖²,  q_j = softmax_j(−d_j / 2τ),  z_l = Σ_j q_j W_jl,  c_l = softmax_l(z_l),
 *   loss = −(1/M) Σ_samples log c_y + α‖W‖₁,   τ = exp(θ).
 *
 * Backward, with g_l = (c_l − δ_ly)/M for each sample:
 *
 *   ∂/∂W_jl = Σ q_j g_l + α sign(W_jl),   h_j = Σ_l W_jl g_l,   r_j = q_j (h_j − Σ_k q_k h_k),
 *   ∂/∂d_j = −r_j / 2τ,   ∂/∂θ = Σ r_j d_j / 2τ,
 *   ∂/∂e = Σ_j 2 ∂/∂d_j (e − p_j),   ∂/∂p_j = −Σ_samples 2 ∂/∂d_j (e − p_j).
 *
 * Prototypes that come from the support set (the per-episode design) are means of clusters of
 * support embeddings ({@link supportClusters}); their gradient goes back to those embeddings
 * through {@link clusterMeansBackward}.
 */

/** Loss, accuracy and gradients of {@link layerLoss}. */
export interface LayerLossResult {
  /** Mean negative log-likelihood plus α‖W‖₁. */
  loss: number;
  /** Samples whose largest class score is their own class. */
  correct: number;
  /** ∂loss/∂e for every row of the embeddings given (zero for rows that are not samples). */
  dE: Float32Array;
  /** ∂loss/∂P (J×D) and ∂loss/∂W (J×N). */
  dP: Float32Array;
  dW: Float32Array;
  /** ∂loss/∂θ with τ = exp(θ). */
  dLogTau: number;
}

/**
 * The prototype layer's loss on some rows of an embedding batch, and its gradients.
 * @param e - n×dim embeddings (row-major).
 * @param samples - the rows that are training samples; `labels[i]` is the class (0…N−1) of `samples[i]`.
 * @param P - J×dim prototypes; `W` - J×N prototype-to-class weights.
 * @param logTau - θ, with τ = exp(θ).
 * @param alpha - weight of the L1 penalty on W.
 * @throws RangeError when the array lengths do not fit together.
 * @example
 * // One sample at 0 and two prototypes (at 0 for class 0, at 2 for class 1), W = 5·identity, τ = 1:
 * // q = softmax(0, −2) = (.881, .119), z = (4.40, 0.60), loss = log(1 + e^{−3.81}) ≈ 0.0219.
 * layerLoss(Float32Array.of(0), 1, Int32Array.of(0), Int32Array.of(0), Float32Array.of(0, 2), Float32Array.of(5, 0, 0, 5), 2, 0, 0).loss // ≈ 0.0219
 */
export function layerLoss(e: Float32Array, dim: number, samples: Int32Array, labels: Int32Array, P: Float32Array, W: Float32Array, nClasses: number, logTau: number, alpha: number): LayerLossResult {
  const J = P.length / dim, N = nClasses, M = samples.length;
  if (!Number.isInteger(J) || W.length !== J * N) throw new RangeError(`P has ${P.length} values and W ${W.length}: expected J×${dim} and J×${N}`);
  if (labels.length !== M) throw new RangeError(`${M} samples but ${labels.length} labels`);
  const tau = Math.exp(logTau), inv2tau = 1 / (2 * tau);
  const dE = new Float32Array(e.length), dP = new Float64Array(P.length), dW = new Float64Array(W.length);
  const d = new Float64Array(J), q = new Float64Array(J), z = new Float64Array(N), g = new Float64Array(N), h = new Float64Array(J);
  let loss = 0, correct = 0, dLogTau = 0;
  for (let i = 0; i < M; i++) {
    const row = samples[i], y = labels[i], eo = row * dim;
    if (row < 0 || eo + dim > e.length || !(y >= 0 && y < N)) throw new RangeError(`sample ${i}: row ${row} or label ${y} out of range`);
    // Distances and q = softmax(−d / 2τ).
    let smax = -Infinity;
    for (let j = 0; j < J; j++) {
      let s = 0;
      for (let k = 0; k < dim; k++) { const t = e[eo + k] - P[j * dim + k]; s += t * t; }
      d[j] = s;
      smax = Math.max(smax, -s * inv2tau);
    }
    let qs = 0;
    for (let j = 0; j < J; j++) { q[j] = Math.exp(-d[j] * inv2tau - smax); qs += q[j]; }
    for (let j = 0; j < J; j++) q[j] /= qs;
    // Class scores and c = softmax(z).
    z.fill(0);
    for (let j = 0; j < J; j++) { const qj = q[j]; if (qj === 0) continue; for (let l = 0; l < N; l++) z[l] += qj * W[j * N + l]; }
    let zmax = -Infinity, arg = 0;
    for (let l = 0; l < N; l++) if (z[l] > zmax) { zmax = z[l]; arg = l; }
    if (arg === y) correct++;
    let zs = 0;
    for (let l = 0; l < N; l++) zs += Math.exp(z[l] - zmax);
    loss += zmax + Math.log(zs) - z[y];
    for (let l = 0; l < N; l++) g[l] = (Math.exp(z[l] - zmax) / zs - (l === y ? 1 : 0)) / M;
    // Back through z = qW and q = softmax(s).
    let qh = 0;
    for (let j = 0; j < J; j++) {
      let s = 0;
      for (let l = 0; l < N; l++) { s += W[j * N + l] * g[l]; dW[j * N + l] += q[j] * g[l]; }
      h[j] = s;
      qh += q[j] * s;
    }
    for (let j = 0; j < J; j++) {
      const r = q[j] * (h[j] - qh);
      if (r === 0) continue;
      dLogTau += r * d[j] * inv2tau;
      const c = -2 * r * inv2tau; // 2·∂loss/∂d_j
      for (let k = 0; k < dim; k++) {
        const t = c * (e[eo + k] - P[j * dim + k]);
        dE[eo + k] += t;
        dP[j * dim + k] -= t;
      }
    }
  }
  let l1 = 0;
  for (let a = 0; a < W.length; a++) { l1 += Math.abs(W[a]); dW[a] += alpha * Math.sign(W[a]); }
  return { loss: (M > 0 ? loss / M : 0) + alpha * l1, correct, dE, dP: Float32Array.from(dP), dW: Float32Array.from(dW), dLogTau };
}

/** Which prototype each support image belongs to (see {@link supportClusters}). */
export interface SupportClusters {
  /** Prototypes per class, min(perClass, K). */
  perClass: number;
  /** For support image s (class-major, N·K of them), its prototype c·perClass + m. */
  assign: Int32Array;
  /** Support images per prototype. */
  counts: Int32Array;
}

/**
 * Splits each class's K support embeddings into min(perClass, K) clusters by k-means:
 * farthest-point initialisation (the point farthest from the class mean, then each next the one
 * farthest from those chosen), then Lloyd iterations until the assignment is stable. Deterministic;
 * no cluster is ever empty.
 * @param e - embeddings whose first N·K rows are the support set, class-major.
 * @example
 * // One class of four 1-D points in two groups: {0, 0.1} and {5, 5.2}.
 * supportClusters(Float32Array.of(0, 5, 0.1, 5.2), 1, 1, 4, 2).assign // Int32Array [1, 0, 1, 0]
 */
export function supportClusters(e: Float32Array, dim: number, nWay: number, kShot: number, perClass: number): SupportClusters {
  const P = Math.max(1, Math.min(perClass, kShot));
  const assign = new Int32Array(nWay * kShot), counts = new Int32Array(nWay * P);
  const centre = new Float64Array(P * dim), dist = (s: number, c: Float64Array, co: number): number => {
    let t = 0;
    for (let k = 0; k < dim; k++) { const u = e[s * dim + k] - c[co + k]; t += u * u; }
    return t;
  };
  const local = new Int32Array(kShot);
  for (let c = 0; c < nWay; c++) {
    const first = c * kShot;
    // Farthest-point initialisation, from the class mean.
    const mean = new Float64Array(dim);
    for (let s = first; s < first + kShot; s++) for (let k = 0; k < dim; k++) mean[k] += e[s * dim + k] / kShot;
    const near = new Float64Array(kShot).fill(Infinity);
    let from = mean, fo = 0;
    for (let m = 0; m < P; m++) {
      let best = -1, bestD = -1;
      for (let s = 0; s < kShot; s++) {
        near[s] = Math.min(near[s], m === 0 ? Infinity : dist(first + s, from, fo));
        const dm = m === 0 ? dist(first + s, mean, 0) : near[s];
        if (dm > bestD) { bestD = dm; best = s; }
      }
      for (let k = 0; k < dim; k++) centre[m * dim + k] = e[(first + best) * dim + k];
      near[best] = 0;
      from = centre; fo = m * dim;
    }
    // Lloyd iterations; stop when stable or when a cluster would empty.
    local.fill(-1);
    for (let it = 0; it < 20; it++) {
      const next = new Int32Array(kShot), n = new Int32Array(P);
      for (let s = 0; s < kShot; s++) {
        let best = 0, bestD = Infinity;
        for (let m = 0; m < P; m++) { const dm = dist(first + s, centre, m * dim); if (dm < bestD) { bestD = dm; best = m; } }
        next[s] = best; n[best]++;
      }
      if (n.some((v) => v === 0) || next.every((v, s) => v === local[s])) break;
      local.set(next);
      centre.fill(0);
      for (let s = 0; s < kShot; s++) for (let k = 0; k < dim; k++) centre[local[s] * dim + k] += e[(first + s) * dim + k] / n[local[s]];
    }
    // Only when several support embeddings coincide can the first assignment leave a cluster empty.
    if (local[0] < 0) for (let s = 0; s < kShot; s++) local[s] = s % P;
    for (let s = 0; s < kShot; s++) { assign[first + s] = c * P + local[s]; counts[c * P + local[s]]++; }
  }
  return { perClass: P, assign, counts };
}

/** The mean embedding of each cluster of {@link supportClusters}: (N·perClass)×dim. */
export function clusterMeans(e: Float32Array, dim: number, cl: SupportClusters): Float32Array {
  const out = new Float32Array(cl.counts.length * dim);
  const acc = new Float64Array(out.length);
  cl.assign.forEach((j, s) => { for (let k = 0; k < dim; k++) acc[j * dim + k] += e[s * dim + k]; });
  for (let j = 0; j < cl.counts.length; j++) for (let k = 0; k < dim; k++) out[j * dim + k] = acc[j * dim + k] / cl.counts[j];
  return out;
}

/** Adds ∂loss/∂e of the support rows, given ∂loss/∂(cluster means) scaled by `scale`, to `dE`. */
export function clusterMeansBackward(dMeans: Float32Array, dim: number, cl: SupportClusters, scale: number, dE: Float32Array): void {
  cl.assign.forEach((j, s) => {
    const f = scale / cl.counts[j];
    for (let k = 0; k < dim; k++) dE[s * dim + k] += f * dMeans[j * dim + k];
  });
}

/** Result of {@link episodeLayerLoss}: the layer's loss and gradients, with dw for the shared weight. */
export interface EpisodeLayerResult {
  loss: number;
  correct: number;
  dE: Float32Array;
  dLogTau: number;
  /** ∂loss/∂w, the weight of a prototype on its own class. */
  dw: number;
}

/**
 * The per-episode prototype layer: each class's prototypes are the means of clusters of its
 * support embeddings ({@link supportClusters}, `perClass` per class), W links each prototype to
 * its own class with one shared weight w (0 elsewhere), and the queries are the samples. w and
 * θ = log τ are the layer's only parameters, learned across episodes; the prototypes move with
 * the CNN at every step, so nothing in the head is ever stale.
 * @param e - N·K support rows then N·Q query rows (class-major), dim columns.
 * @example
 * // 2-way 1-shot 1-query in 1-D, supports at 0 and 2, queries at 0.5 and 1.5; w = 5, τ = 1:
 * episodeLayerLoss(Float32Array.of(0, 2, 0.5, 1.5), 1, 2, 1, 1, 1, 5, 0, 0).correct // 2
 */
export function episodeLayerLoss(e: Float32Array, dim: number, nWay: number, kShot: number, nQuery: number, perClass: number, w: number, logTau: number, alpha: number): EpisodeLayerResult {
  const nS = nWay * kShot, nQ = nWay * nQuery;
  if (e.length !== (nS + nQ) * dim) throw new RangeError(`expected ${nS + nQ}×${dim} embedding values, got ${e.length}`);
  const cl = supportClusters(e, dim, nWay, kShot, perClass);
  const J = nWay * cl.perClass;
  const P = clusterMeans(e, dim, cl);
  const W = new Float32Array(J * nWay);
  for (let j = 0; j < J; j++) W[j * nWay + Math.floor(j / cl.perClass)] = w;
  const samples = Int32Array.from({ length: nQ }, (_, i) => nS + i);
  const labels = Int32Array.from({ length: nQ }, (_, i) => Math.floor(i / nQuery));
  const r = layerLoss(e, dim, samples, labels, P, W, nWay, logTau, alpha);
  clusterMeansBackward(r.dP, dim, cl, 1, r.dE);
  let dw = 0;
  for (let j = 0; j < J; j++) dw += r.dW[j * nWay + Math.floor(j / cl.perClass)];
  return { loss: r.loss, correct: r.correct, dE: r.dE, dLogTau: r.dLogTau, dw };
}
