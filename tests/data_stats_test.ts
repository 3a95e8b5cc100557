import assert from "node:assert/strict";
import { hasColour, jacobiEigen3, lightingPca, PixelStats } from "../data/stats.ts";
import { rng } from "../reference/rand.ts";
import { eigenResidual, meanImage, orthonormalityError, rgbCovariance } from "../reference/data.ts";

Deno.test("reference statistics match hand-computed values", () => {
  // Two 1x1 images: (0, 0, 0) and (2, 4, 6): mean (1, 2, 3); cov = 1/2 sum d d^T with
  // d = +-(1, 2, 3), i.e. the outer product of (1, 2, 3).
  const imgs = [new Uint8Array([0, 0, 0]), new Uint8Array([2, 4, 6])];
  assert.deepEqual([...meanImage(imgs, 1)], [1, 2, 3]);
  assert.deepEqual([...rgbCovariance(imgs)], [1, 2, 3, 2, 4, 6, 3, 6, 9]);
  // Residual check catches a wrong pair: diag(1, 2, 3) with e1 labelled as eigenvalue 2.
  const a = [1, 0, 0, 0, 2, 0, 0, 0, 3];
  assert.equal(eigenResidual(a, [3, 2, 1], [0, 0, 1, 0, 1, 0, 1, 0, 0]), 0);
  assert.equal(eigenResidual(a, [2, 2, 1], [0, 0, 1, 0, 1, 0, 1, 0, 0]), 1);
});

Deno.test("jacobiEigen3 on hand-computed matrices", () => {
  // [[2,1,0],[1,2,0],[0,0,5]]: eigenvalues 5, 3, 1; eigenvectors e3, (1,1,0)/sqrt2, (1,-1,0)/sqrt2.
  const { eigvals, eigvecs } = jacobiEigen3([2, 1, 0, 1, 2, 0, 0, 0, 5]);
  const s = Math.SQRT1_2;
  const expected = [[0, 0, 1], [s, s, 0], [s, -s, 0]];
  [5, 3, 1].forEach((v, i) => assert.ok(Math.abs(eigvals[i] - v) < 1e-12, `eigval ${i}`));
  expected.forEach((vec, i) => {
    const got = [eigvecs[i], eigvecs[3 + i], eigvecs[6 + i]];
    // Sign convention: largest-magnitude component positive (ties: first one).
    assert.ok(got.every((g, k) => Math.abs(Math.abs(g) - Math.abs(vec[k])) < 1e-12), `vec ${i}`);
  });
  // Already diagonal, unsorted; and a rank-one matrix (greyscale data has this form).
  assert.deepEqual([...jacobiEigen3([1, 0, 0, 0, 7, 0, 0, 0, 3]).eigvals], [7, 3, 1]);
  const r1 = jacobiEigen3([1, 1, 1, 1, 1, 1, 1, 1, 1]);
  assert.ok(Math.abs(r1.eigvals[0] - 3) < 1e-12 && Math.abs(r1.eigvals[1]) < 1e-12);
  assert.ok(r1.eigvecs[0] > 0 && Math.abs(r1.eigvecs[0] - 1 / Math.sqrt(3)) < 1e-12);
  assert.throws(() => jacobiEigen3([1, 2, 3]), /expected 9 entries/);
});

Deno.test("lightingPca clamps eigenvalues at 0 and finds greyscale data", () => {
  // Greyscale pixels (R = G = B) of variance 7450.67: covariance 7450.67 * ones(3, 3), one
  // non-zero eigenvalue 22352 along the grey axis; the two zero ones may round below 0.
  const v = 22352 / 3;
  const grey = lightingPca([v, v, v, v, v, v, v, v, v]);
  assert.ok(Math.abs(grey.eigvals[0] - 22352) < 1e-6);
  assert.ok(grey.eigvals.every((e) => e >= 0), `clamped: ${[...grey.eigvals]}`);
  assert.equal(grey.colour, false);
  assert.equal(hasColour([22352, 0, -3.1e-13]), false);
  assert.equal(hasColour([0, 0, 0]), false, "constant images have neither colour nor lighting");
  // A slightly coloured covariance keeps its colour and its eigenvalues.
  const c = lightingPca([2, 1, 0, 1, 2, 0, 0, 0, 5]);
  assert.equal(c.colour, true);
  [5, 3, 1].forEach((e, i) => assert.ok(Math.abs(c.eigvals[i] - e) < 1e-12));
});

Deno.test("jacobiEigen3 diagonalises random symmetric matrices", () => {
  const r = rng(7);
  for (let t = 0; t < 50; t++) {
    const m = Array.from({ length: 6 }, () => (r() - 0.5) * 2000);
    const a = [m[0], m[1], m[2], m[1], m[3], m[4], m[2], m[4], m[5]];
    const { eigvals, eigvecs } = jacobiEigen3(a);
    const scale = Math.max(...a.map(Math.abs));
    assert.ok(eigenResidual(a, eigvals, eigvecs) < 1e-9 * scale, `residual, trial ${t}`);
    assert.ok(orthonormalityError(eigvecs) < 1e-12, `orthonormal, trial ${t}`);
    assert.ok(eigvals[0] >= eigvals[1] && eigvals[1] >= eigvals[2], "sorted");
    const trace = a[0] + a[4] + a[8];
    assert.ok(Math.abs(eigvals[0] + eigvals[1] + eigvals[2] - trace) < 1e-9 * scale, "trace");
  }
});

Deno.test("PixelStats mean and covariance match the two-pass reference, also when merged", () => {
  const S = 5, r = rng(3);
  const imgs = Array.from({ length: 7 }, () => {
    const im = new Uint8Array(S * S * 3);
    for (let p = 0; p < S * S; p++) {
      const base = r() * 200;
      im[3 * p] = base + r() * 55;
      im[3 * p + 1] = base * 0.5 + r() * 40;
      im[3 * p + 2] = r() * 255;
    }
    return im;
  });
  const a = new PixelStats(S), b = new PixelStats(S);
  imgs.forEach((im, i) => (i < 3 ? a : b).add(im));
  const all = new PixelStats(S);
  all.merge(a);
  all.merge(new PixelStats(S, b.sums.slice()));
  assert.equal(all.images, 7);
  const mean = all.mean(), refMean = meanImage(imgs, S);
  mean.forEach((v, i) => assert.ok(Math.abs(v - refMean[i]) < 1e-4, `mean[${i}]`));
  const cov = all.covariance(), refCov = rgbCovariance(imgs);
  cov.forEach((v, i) => assert.ok(Math.abs(v - refCov[i]) < 1e-8 * 65025, `cov[${i}]`));
  assert.throws(() => all.add(new Uint8Array(3)), /expected 75 bytes/);
});
