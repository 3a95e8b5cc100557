// Fashion-MNIST (Xiao et al. 2017): 60,000 train and 10,000 test 28x28 greyscale
// images of 10 clothing classes, read from the four IDX files, resized to S x S with a
// CPU bilinear resize (no sharp: this dataset needs no FFI), replicated to RGB, and
// stored in the shard format. train maps to train, t10k to val.

import { DataError } from "../errors.ts";
import { type BuildItem, buildShards } from "./build.ts";
import { defaultCacheDir } from "./dataset.ts";
import { maybeGunzip, parseIdx, resizeGreyToRgb } from "./idx.ts";
import { readIndex } from "./shards.ts";

/** The ten Fashion-MNIST class names, in label order. */
export const FASHION_MNIST_CLASSES: readonly string[] = [
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
];

/** Debian's dataset-fashion-mnist location. */
export const FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist";

const VERSION = 1;

async function readIdxFile(dir: string, base: string, dims: number): Promise<{
  dims: number[];
  data: Uint8Array;
  file: string;
  bytes: number;
}> {
  for (const file of [`${base}.gz`, base]) {
    let raw: Uint8Array;
    try {
      raw = await Deno.readFile(`${dir}/${file}`);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue;
      throw e;
    }
    const parsed = parseIdx(await maybeGunzip(raw, `${dir}/${file}`), `${dir}/${file}`, dims);
    return { ...parsed, file, bytes: raw.byteLength };
  }
  throw new DataError(
    `Fashion-MNIST: ${dir}/${base}(.gz) not found (apt install dataset-fashion-mnist)`,
  );
}

/** Reads and validates one split's images [n, h, w] and labels [n]. */
export async function readFashionMnistSplit(dir: string, prefix: "train" | "t10k"): Promise<{
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  height: number;
  width: number;
  files: { file: string; bytes: number }[];
}> {
  const img = await readIdxFile(dir, `${prefix}-images-idx3-ubyte`, 3);
  const lab = await readIdxFile(dir, `${prefix}-labels-idx1-ubyte`, 1);
  const [n, h, w] = img.dims;
  if (h < 1 || w < 1) throw new DataError(`${dir}/${img.file}: image size ${h}x${w}`);
  if (lab.dims[0] !== n) {
    throw new DataError(
      `${prefix}: ${n} images but ${lab.dims[0]} labels (${img.file}, ${lab.file})`,
    );
  }
  const bad = lab.data.findIndex((l) => l >= FASHION_MNIST_CLASSES.length);
  if (bad >= 0) {
    throw new DataError(`${dir}/${lab.file}: label ${lab.data[bad]} at ${bad} is not 0..9`);
  }
  return {
    images: img.data,
    labels: lab.data,
    count: n,
    height: h,
    width: w,
    files: [img, lab].map(({ file, bytes }) => ({ file, bytes })),
  };
}

/**
 * Converts Fashion-MNIST into the shard format at size S (cached: a second call with the
 * same source files and size returns at once). Returns the dataset directory.
 *
 * @example
 * ```ts ignore
 * const dir = await ensureFashionMnist({ size: 32 }); // out/data/fashion-mnist-32
 * ```
 */
export async function ensureFashionMnist(
  spec: { dir?: string; size: number; cacheDir?: string; progress?: "auto" | "quiet" },
): Promise<string> {
  const src = spec.dir ?? FASHION_MNIST_DIR;
  const S = spec.size;
  if (!Number.isInteger(S) || S < 1) throw new RangeError(`fashion-mnist: bad size ${S}`);
  const out = spec.cacheDir ?? defaultCacheDir("fashion-mnist", S);
  const train = await readFashionMnistSplit(src, "train");
  const test = await readFashionMnistSplit(src, "t10k");
  const source = {
    kind: "fashion-mnist",
    version: VERSION,
    files: [...train.files, ...test.files],
    resize: "bilinear-half-pixel",
  };
  const existing = await readIndex(out).catch(() => null);
  if (existing && JSON.stringify(existing.source) === JSON.stringify(source)) return out;
  const items = (s: typeof train, name: string): BuildItem[] => {
    const px = s.height * s.width;
    return Array.from({ length: s.count }, (_, i) => ({
      key: `${name}:${i}`,
      label: s.labels[i],
      load: () =>
        Promise.resolve(
          resizeGreyToRgb(s.images.subarray(i * px, (i + 1) * px), s.height, s.width, S),
        ),
    }));
  };
  await buildShards({
    dir: out,
    name: "fashion-mnist",
    classes: [...FASHION_MNIST_CLASSES],
    imageSize: S,
    source,
    splits: { train: items(train, "train"), val: items(test, "t10k") },
    concurrency: 1,
    progress: spec.progress ?? "auto",
  });
  return out;
}
