import assert from "node:assert/strict";
import { decodeRaw } from "../data/decode.ts";
import { type GridItem, predictionGrid, renderPredictionGrid, resizeRgb } from "../viz/grid.ts";

/** A w x h image: left half red, right half blue. */
function halvesImage(w: number, h: number): Uint8Array {
  const im = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) im.set(x < w / 2 ? [255, 0, 0] : [0, 0, 255], 3 * (y * w + x));
  }
  return im;
}

const top5 = [
  { name: "cat", p: 0.5 },
  { name: "dog", p: 0.25 },
  { name: "a & <b>", p: 0.125 },
  { name: "fox", p: 0.0625 },
  { name: "owl", p: 0.0625 },
];

Deno.test("resizeRgb: nearest up, box average down", () => {
  const src = Uint8Array.of(0, 0, 0, 100, 100, 100, 200, 200, 200, 40, 40, 40); // 2x2
  const up = resizeRgb(src, 2, 2, 4, 4);
  assert.deepEqual([...up.subarray(0, 12)], [0, 0, 0, 0, 0, 0, 100, 100, 100, 100, 100, 100]);
  assert.deepEqual([...up.subarray(3 * 15)], [40, 40, 40]);
  assert.deepEqual([...resizeRgb(src, 2, 2, 1, 1)], [85, 85, 85]); // (0+100+200+40)/4
});

Deno.test("predictionGrid: layout, pasted pixels and the text layer", async () => {
  const items: GridItem[] = [
    { image: halvesImage(32, 32), width: 32, height: 32, title: "a.jpg", label: "cat", top5 },
    { image: halvesImage(32, 16), width: 32, height: 16, title: "b.jpg", label: "owl", top5 },
    { image: halvesImage(64, 64), width: 64, height: 64, top5: top5.slice(0, 2) },
    { image: halvesImage(8, 8), width: 8, height: 8, label: "zebra", top5 },
  ];
  const g = predictionGrid(items, { imageSize: 64, columns: 2 });
  // Cells: 12 + 64 + 12 + 300 = 388 wide; 12 + 22 + max(64, 22 + 5 * 22) + 12 = 178 tall.
  assert.deepEqual([g.width, g.height], [2 * 388 + 12, 2 * 178]);
  assert.deepEqual(g.cells.map((c) => [c.x, c.y]), [[12, 12], [400, 12], [12, 190], [400, 190]]);
  // A 2:1 image fits as 64x32, centred vertically in its square.
  assert.deepEqual(
    [g.cells[1].imageX, g.cells[1].imageY, g.cells[1].imageWidth, g.cells[1].imageHeight],
    [400, 12 + 22 + 16, 64, 32],
  );
  const png = await renderPredictionGrid(items, { imageSize: 64, columns: 2 });
  const img = await decodeRaw(png);
  assert.deepEqual([img.width, img.height, img.channels], [g.width, g.height, 3]);
  const at = (
    x: number,
    y: number,
  ) => [...img.data.subarray(3 * (y * img.width + x), 3 * (y * img.width + x) + 3)];
  for (const c of g.cells) {
    const midY = c.imageY + (c.imageHeight >> 1);
    assert.deepEqual(at(c.imageX + 2, midY), [255, 0, 0], "left half red");
    assert.deepEqual(at(c.imageX + c.imageWidth - 3, midY), [0, 0, 255], "right half blue");
  }
  assert.deepEqual(at(g.cells[1].imageX + 5, g.cells[1].imageY - 4), [255, 255, 255], "letterbox");
  // Text: escaped names, percentages, verdicts (right, in top-5, wrong).
  assert.match(g.svg, /a &#38; &#60;b&#62;/);
  assert.match(g.svg, />50\.0%</);
  assert.match(g.svg, /a\.jpg<tspan dx="6" fill="#1a7f37">✓/);
  assert.match(g.svg, /b\.jpg<tspan dx="6" fill="#b26a00">\(in top-5\)/);
  assert.match(g.svg, /image 4<tspan dx="6" fill="#c62828">✗/);
  assert.match(g.svg, />label: zebra</);
  // Bars are as long as the probability: 110 px for 1.0.
  assert.match(g.svg, /width="55\.0" height="12" fill="#2e9d46"/);
});

Deno.test("predictionGrid: bad items give clear errors", () => {
  const ok = { image: new Uint8Array(12), width: 2, height: 2, top5 };
  assert.throws(() => predictionGrid([]), /predictionGrid: no items/);
  assert.throws(
    () => predictionGrid([{ ...ok, image: new Uint8Array(11) }]),
    /item 0: a 2x2 RGB image needs 12 bytes, got 11/,
  );
  assert.throws(
    () => predictionGrid([ok, { ...ok, top5: [{ name: "x", p: 1.5 }] }]),
    /item 1: probability of "x" must be in \[0, 1\], got 1\.5/,
  );
  assert.throws(() => predictionGrid([{ ...ok, width: 0 }]), /positive integers/);
  assert.throws(() => predictionGrid([ok], { imageSize: 4 }), /imageSize must be/);
});
