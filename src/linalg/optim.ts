/**
 * Smooth and composite convex optimisers on Float64Array parameters.
 *
 * - {@link lbfgs}: limited-memory BFGS (Nocedal 1980; Liu & Nocedal 1989), two-loop recursion,
 *   backtracking Armijo line search. Monotone: every accepted step lowers f.
 * - {@link fista}: FISTA with backtracking (Beck & Teboulle 2009) in its monotone form (MFISTA),
 *   for f(x) + λ‖x‖₁; the proximal step soft-thresholds, so it yields exact zeros.
 */

/** Evaluates f at x and writes ∇f(x) into g. */
export type ValueAndGrad = (x: Float64Array, g: Float64Array) => number;

export interface OptimResult {
  x: Float64Array;
  f: number;
  iterations: number;
  evaluations: number;
  converged: boolean;
}

export interface LbfgsOptions {
  maxIter?: number;
  /** Stop when ‖∇f‖∞ ≤ gtol. */
  gtol?: number;
  /** Stop when the relative decrease of f over one iteration is ≤ ftol. */
  ftol?: number;
  /** Number of correction pairs kept. */
  memory?: number;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/**
 * d ← d + c·u, returning nextᵀd (the updated d) from the same pass: one float64 sum in index
 * order, as {@link dot} makes it (unrolled by four only to shorten the loop, not the sum).
 */
function axpyDot(d: Float64Array, c: number, u: Float64Array, next: Float64Array): number {
  const n = d.length;
  let acc = 0, i = 0;
  for (; i + 4 <= n; i += 4) {
    const v0 = d[i] + c * u[i], v1 = d[i + 1] + c * u[i + 1], v2 = d[i + 2] + c * u[i + 2], v3 = d[i + 3] + c * u[i + 3];
    d[i] = v0; d[i + 1] = v1; d[i + 2] = v2; d[i + 3] = v3;
    acc += next[i] * v0; acc += next[i + 1] * v1; acc += next[i + 2] * v2; acc += next[i + 3] * v3;
  }
  for (; i < n; i++) { const v = d[i] + c * u[i]; d[i] = v; acc += next[i] * v; }
  return acc;
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) { const v = Math.abs(a[i]); if (v > m) m = v; }
  return m;
}

/** L-BFGS correction pairs, oldest first, with ρ = 1/sᵀy, sᵀy and yᵀy (for γ), and the two-loop's α scratch. */
interface Pairs { S: Float64Array[]; Y: Float64Array[]; rho: number[]; sy: number[]; yy: number[]; alpha: Float64Array }

/**
 * Two-loop recursion: d ← −H g with the pairs' inverse-Hessian estimate (−g/max(1, ‖g‖∞)-scaled
 * when there are none); returns the slope gᵀd. Each pass over d also accumulates the dot product
 * the next one needs (same terms in the same order as a separate {@link dot}, so the same sums).
 */
function direction(d: Float64Array, g: Float64Array, pairs: Pairs): number {
  const { S, Y, rho, sy, yy, alpha } = pairs;
  const n = d.length, m = S.length;
  if (m === 0) {
    const gn = maxAbs(g);
    const scale = gn > 0 ? Math.min(1, 1 / gn) : 1;
    for (let i = 0; i < n; i++) d[i] = -g[i];
    for (let i = 0; i < n; i++) d[i] *= scale;
    return dot(g, d);
  }
  let acc = 0;
  const last = S[m - 1];
  for (let i = 0; i < n; i++) { const v = -g[i]; d[i] = v; acc += last[i] * v; }
  for (let k = m - 1; k >= 0; k--) {
    const a = rho[k] * acc;
    alpha[k] = a;
    // d − a·y, written d + (−a)·y: the same float64 result.
    if (k > 0) acc = axpyDot(d, -a, Y[k], S[k - 1]);
    else for (let i = 0, y = Y[0]; i < n; i++) d[i] -= a * y[i];
  }
  const gamma = sy[m - 1] / yy[m - 1], first = Y[0];
  acc = 0;
  for (let i = 0; i < n; i++) { const v = d[i] * gamma; d[i] = v; acc += first[i] * v; }
  // The last pass accumulates the slope gᵀd.
  for (let k = 0; k < m; k++) acc = axpyDot(d, alpha[k] - rho[k] * acc, S[k], k + 1 < m ? Y[k + 1] : g);
  return acc;
}

/**
 * Minimises a smooth function with L-BFGS. `x0` is not modified.
 * @example
 * lbfgs((x, g) => { g[0] = 2 * (x[0] - 3); return (x[0] - 3) ** 2; }, new Float64Array([0])).x // ≈ [3]
 */
export function lbfgs(fg: ValueAndGrad, x0: Float64Array, options: LbfgsOptions = {}): OptimResult {
  const { maxIter = 100, gtol = 1e-6, ftol = 1e-9, memory = 10 } = options;
  const n = x0.length;
  // x/xNew and g/gNew swap roles after each accepted step instead of being copied.
  let x: Float64Array = Float64Array.from(x0);
  let g: Float64Array = new Float64Array(n);
  let f = fg(x, g);
  let evaluations = 1;
  const pairs: Pairs = { S: [], Y: [], rho: [], sy: [], yy: [], alpha: new Float64Array(memory) };
  const { S, Y, rho, sy, yy } = pairs;
  const d = new Float64Array(n);
  let xNew: Float64Array = new Float64Array(n), gNew: Float64Array = new Float64Array(n);
  // The next pair's buffers: fresh until the memory is full, then the pair that dropped out.
  let sBuf: Float64Array = new Float64Array(n), yBuf: Float64Array = new Float64Array(n);
  let converged = maxAbs(g) <= gtol;
  let it = 0;
  for (; it < maxIter && !converged; it++) {
    let slope = direction(d, g, pairs);
    if (!(slope < 0)) {
      // Not a descent direction (numerical trouble): restart with steepest descent.
      S.length = 0; Y.length = 0; rho.length = 0; yy.length = 0; sy.length = 0;
      const gn = maxAbs(g);
      for (let i = 0; i < n; i++) d[i] = -g[i] / Math.max(gn, 1);
      slope = dot(g, d);
      if (!(slope < 0)) { converged = true; break; }
    }
    // Backtracking Armijo line search.
    let step = 1;
    let fNew = Infinity;
    let accepted = false;
    for (let ls = 0; ls < 30; ls++) {
      for (let i = 0; i < n; i++) xNew[i] = x[i] + step * d[i];
      fNew = fg(xNew, gNew);
      evaluations++;
      if (Number.isFinite(fNew) && fNew <= f + 1e-4 * step * slope) { accepted = true; break; }
      step *= 0.5;
    }
    if (!accepted) { converged = true; break; }
    // s = xNew − x, y = gNew − g, with sᵀy, sᵀs and yᵀy in the same pass.
    const s = sBuf, y = yBuf;
    let sty = 0, sts = 0, yty = 0;
    for (let i = 0; i < n; i++) {
      const si = xNew[i] - x[i], yi = gNew[i] - g[i];
      s[i] = si; y[i] = yi;
      sty += si * yi; sts += si * si; yty += yi * yi;
    }
    if (sty > 1e-12 * Math.sqrt(sts * yty)) {
      if (S.length === memory) {
        sBuf = S.shift()!; yBuf = Y.shift()!; rho.shift(); yy.shift(); sy.shift();
      } else {
        sBuf = new Float64Array(n); yBuf = new Float64Array(n);
      }
      S.push(s); Y.push(y); rho.push(1 / sty); yy.push(yty); sy.push(sty);
    }
    const fOld = f;
    let t = x; x = xNew; xNew = t;
    t = g; g = gNew; gNew = t;
    f = fNew;
    if (maxAbs(g) <= gtol || (fOld - f) <= ftol * Math.max(1, Math.abs(fOld))) converged = true;
  }
  return { x, f, iterations: it, evaluations, converged };
}

export interface FistaOptions {
  maxIter?: number;
  /** Stop when the relative decrease of the objective over one iteration is ≤ ftol (and no restart). */
  ftol?: number;
  /** Initial Lipschitz estimate. */
  L0?: number;
}

function softThreshold(out: Float64Array, v: Float64Array, t: number): void {
  for (let i = 0; i < v.length; i++) {
    const a = v[i];
    out[i] = a > t ? a - t : a < -t ? a + t : 0;
  }
}

function l1(x: Float64Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.abs(x[i]);
  return s;
}

/**
 * Minimises f(x) + λ‖x‖₁ with monotone FISTA and backtracking on the Lipschitz constant.
 * Returns the objective including the penalty. Entries driven to zero are exactly 0.
 */
export function fista(fg: ValueAndGrad, lambda: number, x0: Float64Array, options: FistaOptions = {}): OptimResult & { L: number } {
  const { maxIter = 200, ftol = 1e-9 } = options;
  let L = options.L0 ?? 1;
  const n = x0.length;
  const x = Float64Array.from(x0);
  const y = Float64Array.from(x0);
  const gy = new Float64Array(n), z = new Float64Array(n), tmp = new Float64Array(n), gz = new Float64Array(n);
  const xPrev = new Float64Array(n);
  let fx = fg(x, gz) + lambda * l1(x);
  let evaluations = 1;
  let t = 1;
  let converged = false;
  let it = 0;
  for (; it < maxIter; it++) {
    const fy = fg(y, gy);
    evaluations++;
    // Backtracking: find L with f(z) ≤ f(y) + ∇f(y)ᵀ(z−y) + L/2‖z−y‖².
    let fzSmooth = 0;
    for (let bt = 0; bt < 50; bt++) {
      for (let i = 0; i < n; i++) tmp[i] = y[i] - gy[i] / L;
      softThreshold(z, tmp, lambda / L);
      fzSmooth = fg(z, gz);
      evaluations++;
      let lin = 0, quad = 0;
      for (let i = 0; i < n; i++) { const dz = z[i] - y[i]; lin += gy[i] * dz; quad += dz * dz; }
      if (fzSmooth <= fy + lin + 0.5 * L * quad + 1e-12 * Math.abs(fy)) break;
      L *= 2;
    }
    const fz = fzSmooth + lambda * l1(z);
    xPrev.set(x);
    const fOld = fx;
    if (fz <= fx) {
      x.set(z); fx = fz;
      const tNew = (1 + Math.sqrt(1 + 4 * t * t)) / 2;
      for (let i = 0; i < n; i++) y[i] = x[i] + ((t - 1) / tNew) * (x[i] - xPrev[i]);
      t = tNew;
      L = Math.max(L * 0.9, 1e-12); // let the step grow back slowly
      if (fOld - fx <= ftol * Math.max(1, Math.abs(fOld))) { converged = true; it++; break; }
    } else {
      // Momentum overshot: adaptive restart (O'Donoghue & Candès 2015) from the best point.
      y.set(x);
      t = 1;
    }
  }
  return { x, f: fx, iterations: it, evaluations, converged, L };
}
