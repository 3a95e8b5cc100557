// A tiny timing helper shared by the runner and the peer (outside tinybench: used for
// the fixed submit-and-wait floor, measured once per side).

/** Median of 15 timed calls of `fn` after 3 untimed ones, milliseconds. */
export async function medianOf(fn: () => Promise<void>): Promise<number> {
  const ts: number[] = [];
  for (let i = 0; i < 18; i++) {
    const t0 = performance.now();
    await fn();
    if (i >= 3) ts.push(performance.now() - t0);
  }
  return ts.sort((a, b) => a - b)[ts.length >> 1];
}
