// CPU reference for augmentation, naive and obviously right: for each crop, pixel and
// channel, index the HWC uint8 source and the CHW mean directly.

/** Static shape of the augmentation. */
export interface AugmentShape {
  /** Source images in the uint8 tensor. */
  numImages: number;
  /** Source side. */
  srcSize: number;
  /** Crop side. */
  cropSize: number;
  /** Channels. */
  channels: number;
  /** Output multiplier, or one per channel. */
  scale: number | readonly number[];
}

/** out[i,c,y,x] = (img[s, oy+y, sx, c] - mean[c, oy+y, sx] + light[c]) * scale, params [count, 8]. */
export function augmentRef(
  images: Uint8Array,
  mean: Float32Array,
  params: Float32Array,
  shape: AugmentShape,
): Float32Array {
  const { srcSize: S, cropSize: K, channels: C, scale } = shape;
  const count = params.length / 8;
  const out = new Float32Array(count * C * K * K);
  for (let i = 0; i < count; i++) {
    const [s, oy, ox, flip] = params.subarray(i * 8, i * 8 + 4);
    for (let c = 0; c < C; c++) {
      for (let y = 0; y < K; y++) {
        for (let x = 0; x < K; x++) {
          const sy = oy + y, sx = flip ? ox + K - 1 - x : ox + x;
          const pixel = images[((s * S + sy) * S + sx) * C + c];
          const v = pixel - mean[(c * S + sy) * S + sx] + params[i * 8 + 4 + c];
          out[((i * C + c) * K + y) * K + x] = v * (typeof scale === "number" ? scale : scale[c]);
        }
      }
    }
  }
  return out;
}

/** Crop [oy, oy+K) x [ox, ox+K) of channel-last image s, as CHW, optionally mirrored. */
export function sliceCrop(
  images: Uint8Array,
  s: number,
  oy: number,
  ox: number,
  flip: boolean,
  S: number,
  K: number,
  C: number,
): Float32Array {
  const out = new Float32Array(C * K * K);
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < K; y++) {
      const row: number[] = [];
      for (let x = 0; x < K; x++) row.push(images[((s * S + oy + y) * S + ox + x) * C + c]);
      if (flip) row.reverse();
      out.set(row, (c * K + y) * K);
    }
  }
  return out;
}
