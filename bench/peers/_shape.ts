// Maps a bench case to the numeric shape a peer needs, and to a stable key (op + shape)
// under which peer figures are stored. A case's structured `dims` are used when present;
// otherwise its human-readable shape string ("N=4 48x27x27 -> 128x27x27 k5 p2") is
// parsed leniently. Either way what was read is CHECKED (a conv's output size must
// follow from its input, kernel, stride and padding). A shape that cannot be read or
// checked gets no peer ("—") rather than a peer run at a guessed shape.

/** The operation families the peer can run, with their numeric dimensions. */
export type PeerShape =
  | {
    kind: "conv2d";
    dir: "forward" | "backwardData" | "backwardFilter";
    n: number;
    c: number;
    h: number;
    w: number;
    k: number;
    oh: number;
    ow: number;
    kh: number;
    kw: number;
    stride: number;
    pad: number;
    groups: number;
  }
  | {
    kind: "maxpool";
    dir: "forward" | "backward";
    n: number;
    c: number;
    h: number;
    w: number;
    oh: number;
    ow: number;
    size: number;
    stride: number;
  }
  | { kind: "lrn"; dir: "forward" | "backward"; n: number; c: number; h: number; w: number }
  /**
   * y[M,N] = x[M,K] · W[N,K]ᵀ; backward data dX = dY·W, weights dW = dYᵀ·x, "backward"
   * both. `bias` (ops of a linear layer): forward adds a bias (and a ReLU when `relu`),
   * backward weights also sums db.
   */
  | {
    kind: "gemm";
    dir: "forward" | "backwardData" | "backwardFilter" | "backward";
    m: number;
    k: number;
    n: number;
    bias: boolean;
    relu: boolean;
  }
  | { kind: "reluBackward"; size: number }
  | { kind: "dropout"; dir: "forward" | "backward"; size: number }
  /** "fused": loss, dLogits and hits in one run (ops like `softmaxXent.run`). */
  | { kind: "softmaxXent"; dir: "forward" | "backward" | "fused"; n: number; classes: number }
  | { kind: "sgd"; size: number };

/** Tokens of a shape string: `N=4`, dimension groups `48x27x27`, and `k5`/`s=2` params. */
interface Parsed {
  n?: number;
  dims: number[][];
  params: Record<string, number>;
}

function tokenize(shape: string): Parsed {
  const out: Parsed = { dims: [], params: {} };
  const text = shape.replace(/[[\](),;·×]/g, (ch) => (ch === "×" ? "x" : " "));
  for (const tok of text.split(/\s+|->|→/).filter(Boolean)) {
    let m;
    // `N=4` is the batch, never a parameter (lower-case `n=5` is LRN's window).
    if ((m = /^N\s*=\s*(\d+)$/.exec(tok))) out.n = Number(m[1]);
    else if (/^\d+(x\d+)*$/i.test(tok)) out.dims.push(tok.split(/x/i).map(Number));
    else if ((m = /^([a-zA-Z]+)=?(\d+(?:\.\d+)?)$/.exec(tok))) {
      out.params[m[1].toLowerCase()] = Number(m[2]);
    }
  }
  return out;
}

function param(p: Parsed, names: string[], fallback?: number): number | undefined {
  for (const n of names) if (p.params[n] !== undefined) return p.params[n];
  return fallback;
}

/** Splits [N?,C,H,W] into n, c, h, w using `N=` when given. */
function nchw(p: Parsed, d: number[] | undefined): [number, number, number, number] | null {
  if (!d) return null;
  if (d.length === 4) return [d[0], d[1], d[2], d[3]];
  if (d.length === 3 && p.n !== undefined) return [p.n, d[0], d[1], d[2]];
  return null;
}

function direction(op: string): "forward" | "backwardData" | "backwardFilter" | "backward" {
  const dir = op.split(".").slice(1).join(".").toLowerCase();
  if (/filter|weight|dw\b/.test(dir)) return "backwardFilter";
  if (/data|input|dx\b/.test(dir)) return "backwardData";
  if (/back|grad/.test(dir)) return "backward";
  return "forward";
}

function product(d: number[]): number {
  return d.reduce((a, b) => a * b, 1);
}

/**
 * The numeric shape of a case for the peer, or null when the op has no peer mapping or
 * the shape string cannot be understood unambiguously.
 */
export function peerShapeOf(
  c: { op: string; shape: string; name?: string; dims?: Record<string, number> },
): PeerShape | null {
  const family = c.op.split(".")[0].toLowerCase().replace(/[_-]/g, "");
  const dir = direction(c.op);
  if (c.dims) return fromDims(family, dir, c.op, c.dims);
  const p = tokenize(c.shape);
  switch (family) {
    case "conv2d":
    case "conv": {
      const x = nchw(p, p.dims[0]), y = nchw(p, p.dims[1]);
      if (!x || !y || dir === "backward") return null;
      const ks = p.dims[2]?.length === 2 ? p.dims[2] : undefined;
      const kh = param(p, ["k", "kernel", "kh"]) ?? ks?.[0];
      const kw = param(p, ["k", "kernel", "kw"]) ?? ks?.[1];
      const stride = param(p, ["s", "stride"], 1)!, pad = param(p, ["p", "pad"], 0)!;
      const groups = param(p, ["g", "groups"], 1)!;
      if (kh === undefined || kw === undefined || x[0] !== y[0]) return null;
      const oh = Math.floor((x[2] + 2 * pad - kh) / stride) + 1;
      const ow = Math.floor((x[3] + 2 * pad - kw) / stride) + 1;
      if (oh !== y[2] || ow !== y[3]) return null;
      return {
        kind: "conv2d",
        dir,
        n: x[0],
        c: x[1],
        h: x[2],
        w: x[3],
        k: y[1],
        oh,
        ow,
        kh,
        kw,
        stride,
        pad,
        groups,
      };
    }
    case "maxpool":
    case "pool": {
      const x = nchw(p, p.dims[0]), y = nchw(p, p.dims[1]);
      if (!x || !y || x[0] !== y[0] || x[1] !== y[1]) return null;
      const win = p.dims[2]?.length === 2 && p.dims[2][0] === p.dims[2][1]
        ? p.dims[2][0]
        : undefined;
      const size = param(p, ["k", "size", "window"]) ?? win ?? 3;
      const stride = param(p, ["s", "stride"], 2)!;
      if (param(p, ["p", "pad"], 0) !== 0) return null;
      if (Math.floor((x[2] - size) / stride) + 1 !== y[2]) return null;
      if (Math.floor((x[3] - size) / stride) + 1 !== y[3]) return null;
      return {
        kind: "maxpool",
        dir: dir === "forward" ? "forward" : "backward",
        n: x[0],
        c: x[1],
        h: x[2],
        w: x[3],
        oh: y[2],
        ow: y[3],
        size,
        stride,
      };
    }
    case "lrn": {
      const x = nchw(p, p.dims[0]);
      if (!x || param(p, ["n", "size", "window"], 5) !== 5) return null;
      const d = dir === "forward" ? "forward" : "backward";
      return { kind: "lrn", dir: d, n: x[0], c: x[1], h: x[2], w: x[3] };
    }
    case "gemm":
    case "linear":
    case "fc": {
      // Either "M=4 K=9216 N=2048" or batch style "N=4 9216 -> 2048" / "B=4 9216 -> 2048".
      const explicit = p.params.m !== undefined;
      const m = explicit ? p.params.m : p.n ?? p.params.b;
      const k = explicit ? p.params.k : p.dims[0]?.at(-1);
      const n = explicit ? p.n : p.dims[1]?.at(-1);
      if (m === undefined || k === undefined || n === undefined) return null;
      const relu = family !== "gemm" && /\brelu\b/i.test(c.shape);
      return { kind: "gemm", dir, m, k, n, bias: family !== "gemm", relu };
    }
    case "elementwise":
    case "relu": {
      if (!/relu.*back|back.*relu/i.test(c.op)) return null;
      const d = p.dims[0];
      return d ? { kind: "reluBackward", size: product(d) * (p.n ?? 1) } : null;
    }
    case "dropout": {
      const d = p.dims[0];
      const size = d ? product(d) * (p.n ?? 1) : undefined;
      if (!size || (param(p, ["p", "rate"], 0.5) !== 0.5)) return null;
      return { kind: "dropout", dir: dir === "forward" ? "forward" : "backward", size };
    }
    case "softmaxxent":
    case "softmaxcrossentropy":
    case "xent": {
      const d = p.dims[0];
      const n = p.n ?? (d?.length === 2 ? d[0] : undefined);
      const classes = d?.length === 1 ? d[0] : d?.length === 2 ? d[1] : undefined;
      if (n === undefined || classes === undefined) return null;
      const fused = /\.(run|step|fused)$/i.test(c.op);
      const sd = fused ? "fused" : dir === "forward" ? "forward" : "backward";
      return { kind: "softmaxXent", dir: sd, n, classes };
    }
    case "sgd": {
      // Only one named tensor, "fc6.weight [2048x9216]": "16 tensors" is not a size.
      const m = /^\S*\s*\[(\d+(?:x\d+)*)\]\s*$/.exec(c.shape);
      return m ? { kind: "sgd", size: product(m[1].split("x").map(Number)) } : null;
    }
  }
  return null;
}

/**
 * The peer shape from a case's structured `dims` (see KernelBenchCase.dims), with the
 * same checks as the string path: missing or non-positive dimensions give null.
 */
function fromDims(
  family: string,
  dir: ReturnType<typeof direction>,
  op: string,
  d: Record<string, number>,
): PeerShape | null {
  const need = (...keys: string[]) =>
    keys.every((k) => Number.isInteger(d[k]) && d[k] > 0) ? keys.map((k) => d[k]) : null;
  switch (family) {
    case "conv2d":
    case "conv": {
      const v = need("n", "c", "h", "w", "k", "kh", "kw");
      if (!v || dir === "backward") return null;
      const [n, c, h, w, k, kh, kw] = v;
      const stride = d.stride ?? 1, pad = d.pad ?? 0, groups = d.groups ?? 1;
      if (c % groups || k % groups) return null;
      const oh = Math.floor((h + 2 * pad - kh) / stride) + 1;
      const ow = Math.floor((w + 2 * pad - kw) / stride) + 1;
      if (oh < 1 || ow < 1) return null;
      return { kind: "conv2d", dir, n, c, h, w, k, oh, ow, kh, kw, stride, pad, groups };
    }
    case "maxpool":
    case "pool": {
      const v = need("n", "c", "h", "w");
      if (!v) return null;
      const [n, c, h, w] = v;
      const size = d.size ?? 3, stride = d.stride ?? 2;
      const oh = Math.floor((h - size) / stride) + 1, ow = Math.floor((w - size) / stride) + 1;
      const pd = dir === "forward" ? "forward" : "backward";
      return { kind: "maxpool", dir: pd, n, c, h, w, oh, ow, size, stride };
    }
    case "lrn": {
      const v = need("n", "c", "h", "w");
      if (!v || (d.size ?? 5) !== 5) return null;
      const [n, c, h, w] = v;
      return { kind: "lrn", dir: dir === "forward" ? "forward" : "backward", n, c, h, w };
    }
    case "gemm":
    case "linear":
    case "fc": {
      const v = need("m", "k", "n");
      if (!v) return null;
      const [m, k, n] = v;
      const bias = family !== "gemm";
      return { kind: "gemm", dir, m, k, n, bias, relu: bias && d.relu === 1 };
    }
    case "elementwise":
    case "relu": {
      const v = need("size");
      return v && /relu.*back|back.*relu/i.test(op) ? { kind: "reluBackward", size: v[0] } : null;
    }
    case "dropout": {
      const v = need("size");
      if (!v || (d.p ?? 0.5) !== 0.5) return null;
      return { kind: "dropout", dir: dir === "forward" ? "forward" : "backward", size: v[0] };
    }
    case "softmaxxent":
    case "softmaxcrossentropy":
    case "xent": {
      const v = need("n", "classes");
      if (!v) return null;
      const fused = /\.(run|step|fused)$/i.test(op);
      const sd = fused ? "fused" : dir === "forward" ? "forward" : "backward";
      return { kind: "softmaxXent", dir: sd, n: v[0], classes: v[1] };
    }
    case "sgd": {
      const v = need("size");
      return v ? { kind: "sgd", size: v[0] } : null;
    }
  }
  return null;
}

/** The stable key of a peer shape: op family, direction and every dimension. */
export function peerKey(s: PeerShape): string {
  const { kind, ...rest } = s;
  const dims = Object.entries(rest).map(([k, v]) => `${k}=${v}`).join(" ");
  return `${kind} ${dims}`;
}
