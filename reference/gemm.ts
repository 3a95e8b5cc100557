// CPU reference for GEMM and the fully-connected layer (float64 accumulation).

/** C[M,N] = op(A) op(B) (+ bias[N]) (relu). A is [M,K] or [K,M] (transA); B [K,N] or [N,K]. */
export function gemmRef(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  p: {
    M: number;
    N: number;
    K: number;
    transA?: boolean;
    transB?: boolean;
    bias?: ArrayLike<number>;
    relu?: boolean;
  },
): Float64Array {
  const { M, N, K } = p;
  const c = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = p.bias ? p.bias[n] : 0;
      for (let k = 0; k < K; k++) {
        const av = p.transA ? a[k * M + m] : a[m * K + k];
        const bv = p.transB ? b[n * K + k] : b[k * N + n];
        s += av * bv;
      }
      c[m * N + n] = p.relu ? Math.max(s, 0) : s;
    }
  }
  return c;
}

/** y[B,out] = relu?(x[B,in] w[out,in]^T + b[out]). */
export function linearForwardRef(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  b: ArrayLike<number>,
  batch: number,
  inF: number,
  outF: number,
  relu = false,
): Float64Array {
  return gemmRef(x, w, { M: batch, N: outF, K: inF, transB: true, bias: b, relu });
}

/** Gradients of linearForwardRef given dY (and y for the relu mask). */
export function linearBackwardRef(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  y: ArrayLike<number> | null,
  dY: ArrayLike<number>,
  batch: number,
  inF: number,
  outF: number,
): { dX: Float64Array; dW: Float64Array; db: Float64Array } {
  const g = Float64Array.from(dY, (v, i) => (y && !(y[i] > 0) ? 0 : v));
  const dX = gemmRef(g, w, { M: batch, N: inF, K: outF });
  const dW = gemmRef(g, x, { M: outF, N: inF, K: batch, transA: true });
  const db = new Float64Array(outF);
  for (let i = 0; i < batch; i++) for (let o = 0; o < outF; o++) db[o] += g[i * outF + o];
  return { dX, dW, db };
}
