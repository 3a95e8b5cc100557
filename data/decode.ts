// The one file that imports sharp (libvips through Node-API): it needs --allow-ffi, so
// it is loaded lazily — reading prepared shards never touches it.
//
// decodeSquare is the paper's input transform: decode (JPEG incl. CMYK and progressive,
// PNG incl. alpha and 16-bit, WebP, GIF, TIFF, AVIF, SVG — whatever libvips reads),
// apply the EXIF orientation, composite any alpha over a background colour, convert to
// 8-bit sRGB (greyscale becomes three equal channels, CMYK goes through libvips' ICC
// transform), resize so the SHORT side is `size` and crop the centre size x size
// (sharp's `fit: "cover"` is exactly that), and return packed HWC uint8 RGB.

type Sharp = typeof import("sharp");

let sharpPromise: Promise<Sharp> | null = null;

/** Loads sharp on first use (the only place it is imported). */
async function getSharp(): Promise<Sharp> {
  sharpPromise ??= import("sharp").then((m) => {
    const sharp = ((m as { default?: Sharp }).default ?? m) as Sharp;
    // Decodes run several at a time (one libuv thread each); a single libvips thread
    // per image avoids oversubscribing small machines.
    sharp.concurrency(1);
    sharp.cache(false);
    return sharp;
  });
  return await sharpPromise;
}

/** Options of {@link decodeSquare}. */
export interface DecodeOptions {
  /**
   * Images with more pixels than this are rejected before decoding (decompression
   * bombs; sharp's `limitInputPixels`). Default 2^28 (16384 x 16384).
   */
  limitPixels?: number;
  /** Colour that transparent pixels are composited over: "black" (default) or "white". */
  background?: "black" | "white";
}

/** Default pixel limit of {@link decodeSquare}. */
export const DEFAULT_LIMIT_PIXELS: number = 2 ** 28;

/**
 * Decodes an encoded image (bytes or a file path) and returns the centre `size` x `size`
 * crop after scaling the short side to `size`, as packed HWC uint8 RGB.
 * Throws (with libvips' message) on corrupt, truncated, unsupported or oversized input.
 *
 * @example
 * ```ts ignore
 * const rgb = await decodeSquare("n01440764/x.JPEG", 256); // Uint8Array(256 * 256 * 3)
 * ```
 */
export async function decodeSquare(
  input: Uint8Array | string,
  size: number,
  options: DecodeOptions = {},
): Promise<Uint8Array> {
  const sharp = await getSharp();
  if (typeof input !== "string" && input.byteLength === 0) throw new Error("empty file");
  const bg = options.background === "white" ? 255 : 0;
  const { data, info } = await sharp(input, {
    limitInputPixels: options.limitPixels ?? DEFAULT_LIMIT_PIXELS,
    // Truncated or corrupt data is an error, not a half-grey image.
    failOn: "error",
  })
    .rotate() // EXIF orientation
    .flatten({ background: { r: bg, g: bg, b: bg } })
    .toColourspace("srgb")
    .resize(size, size, { fit: "cover", position: "centre", kernel: "lanczos3" })
    .removeAlpha()
    .raw({ depth: "uchar" })
    .toBuffer({ resolveWithObject: true });
  if (info.width !== size || info.height !== size || info.channels !== 3) {
    throw new Error(
      `decode: expected ${size}x${size}x3 output, got ${info.width}x${info.height}x${info.channels}`,
    );
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Renders an SVG document to PNG bytes at its own width and height (librsvg).
 * `compact`: a 256-colour palette at full compression — charts of a few flat colours
 * lose nothing visible and shrink about 3x (for images kept in the repository).
 */
export async function renderSvgPng(
  svg: string,
  options: { compact?: boolean } = {},
): Promise<Uint8Array> {
  const sharp = await getSharp();
  const buf = await sharp(new TextEncoder().encode(svg), { density: 72 })
    .png(options.compact ? { palette: true, compressionLevel: 9 } : { compressionLevel: 1 })
    .toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Raw interleaved pixels, as {@link encodeImage} takes them. */
export interface RawImage {
  /** Packed HWC bytes. */
  data: Uint8Array;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA). */
  channels: 1 | 2 | 3 | 4;
}

/** How {@link encodeImage} encodes. */
export type EncodeFormat =
  | { kind: "jpeg"; quality?: number; progressive?: boolean; cmyk?: boolean; orientation?: number }
  | { kind: "png" }
  | { kind: "webp"; lossless?: boolean };

/**
 * Encodes raw pixels (tests build real image files with it; contact sheets use it).
 * `orientation` stores an EXIF orientation tag (1-8) without rotating the pixels.
 *
 * @example
 * ```ts ignore
 * const png = await encodeImage({ data, width: 4, height: 4, channels: 3 }, { kind: "png" });
 * ```
 */
export async function encodeImage(image: RawImage, format: EncodeFormat): Promise<Uint8Array> {
  const sharp = await getSharp();
  let s = sharp(image.data, {
    raw: { width: image.width, height: image.height, channels: image.channels },
  });
  if (format.kind === "jpeg") {
    if (format.cmyk) s = s.toColourspace("cmyk");
    if (format.orientation) s = s.withMetadata({ orientation: format.orientation });
    s = s.jpeg({ quality: format.quality ?? 95, progressive: format.progressive ?? false });
  } else if (format.kind === "png") {
    s = s.png();
  } else {
    s = s.webp({ lossless: format.lossless ?? false });
  }
  const buf = await s.toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Header facts of an encoded image (tests use it to check what they wrote). */
export async function probeImage(
  input: Uint8Array,
): Promise<{ format?: string; space?: string; orientation?: number; isProgressive?: boolean }> {
  const sharp = await getSharp();
  const m = await sharp(input).metadata();
  return {
    format: m.format,
    space: m.space,
    orientation: m.orientation,
    isProgressive: m.isProgressive,
  };
}

/**
 * Draws an SVG document over raw pixels and encodes the result as PNG. The SVG is
 * rendered at the image's size (give it the same width and height); pixels it leaves
 * transparent keep their exact values, so pictures made of data (filter mosaics,
 * prediction grids) stay pixel-exact under their text labels.
 *
 * @example
 * ```ts ignore
 * const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="16">` +
 *   `<text x="2" y="12" font-size="10">label</text></svg>`;
 * const png = await overlaySvgPng({ data, width: 64, height: 16, channels: 3 }, svg);
 * ```
 */
export async function overlaySvgPng(image: RawImage, svg: string): Promise<Uint8Array> {
  const sharp = await getSharp();
  const overlay = await sharp(new TextEncoder().encode(svg), { density: 72 })
    .resize(image.width, image.height, { fit: "fill" })
    .png()
    .toBuffer();
  // Compositing adds an alpha channel; flatten in a second pass so the PNG keeps the
  // input's channels (smaller files, and what readers of the pixels expect).
  const raw = await sharp(image.data, {
    raw: { width: image.width, height: image.height, channels: image.channels },
  })
    .composite([{ input: overlay, left: 0, top: 0 }])
    .raw()
    .toBuffer({ resolveWithObject: true });
  let s = sharp(raw.data, {
    raw: { width: raw.info.width, height: raw.info.height, channels: raw.info.channels },
  });
  if (raw.info.channels > image.channels && image.channels !== 2 && image.channels !== 4) {
    s = s.removeAlpha();
  }
  const buf = await s.png({ compressionLevel: 9 }).toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/**
 * Decodes an encoded image to raw interleaved pixels at its own size, keeping its
 * channels (tests decode the PNGs they wrote to check pixel values).
 *
 * @example
 * ```ts ignore
 * const { data, width, height, channels } = await decodeRaw(await Deno.readFile("a.png"));
 * ```
 */
export async function decodeRaw(input: Uint8Array): Promise<RawImage> {
  const sharp = await getSharp();
  const { data, info } = await sharp(input, { failOn: "error" })
    .raw({ depth: "uchar" })
    .toBuffer({ resolveWithObject: true });
  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    width: info.width,
    height: info.height,
    channels: info.channels as RawImage["channels"],
  };
}
