// Columns: the paper's two GPUs. A column is one GPUDevice with its own queue, plus
// what every kernel needs from it: a pipeline cache keyed by the full WGSL source,
// a buffer pool with byte accounting, and device errors captured and rethrown at the
// next call. There is no module-level GPU state: two columns are two contexts.

/** Which kernel shapes suit the adapter (see README: hardware profiles). */
export type Profile = "gpu" | "software";

/** Options for {@link openColumns}. */
export interface OpenColumnsOptions {
  /** 1 (both halves of the network on one device) or 2. Default 2. */
  count?: 1 | 2;
  /** Force a kernel profile instead of detecting it from the adapter. */
  profile?: Profile;
  /** Extra limits to request; by default the adapter's maxima for buffers and workgroups. */
  requiredLimits?: Record<string, number>;
}

/** The pair (or single) of columns returned by {@link openColumns}. */
export interface Columns {
  /** The columns, index 0 and 1 (or only 0). */
  readonly columns: Column[];
  /** True when both columns are devices on the same physical adapter. */
  readonly sharedAdapter: boolean;
  /** Destroys every device. */
  destroy(): void;
}

/** Message used when no WebGPU adapter can be found. */
export const NO_ADAPTER_HINT: string =
  "No WebGPU adapter found. Install a GPU driver with Vulkan/Metal/D3D12 support, or " +
  "Mesa's software Vulkan driver (Debian/Ubuntu: `apt-get install mesa-vulkan-drivers`; " +
  "bookworm-backports has the faster Mesa 25). Select a backend with " +
  "DENO_WEBGPU_BACKEND=vulkan|gl.";

const LIMIT_NAMES = [
  "maxBufferSize",
  "maxStorageBufferBindingSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
] as const;

function isSoftware(adapter: GPUAdapter): boolean {
  const info = adapter.info;
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`
    .toLowerCase();
  // deno-lint-ignore no-explicit-any
  const fallback = (info as any).isFallbackAdapter ?? (adapter as any).isFallbackAdapter;
  return Boolean(fallback) || /llvmpipe|lavapipe|swiftshader|softpipe|warp/.test(text);
}

function describe(adapter: GPUAdapter): string {
  const i = adapter.info;
  return i.description || [i.vendor, i.architecture, i.device].filter(Boolean).join(" ") ||
    "unknown adapter";
}

async function requestAdapter(pref?: GPUPowerPreference): Promise<GPUAdapter | null> {
  if (typeof navigator === "undefined" || !("gpu" in navigator) || !navigator.gpu) {
    throw new Error(`navigator.gpu is missing: this runtime has no WebGPU. ${NO_ADAPTER_HINT}`);
  }
  return await navigator.gpu.requestAdapter(pref ? { powerPreference: pref } : undefined);
}

/**
 * Opens one or two columns: two distinct adapters when the system has them, otherwise
 * two devices on one adapter (each from a freshly requested adapter object, since a
 * second `requestDevice` on one adapter object is outside the spec).
 *
 * @example
 * ```ts ignore
 * const { columns, destroy } = await openColumns({ count: 2 });
 * console.log(columns.map((c) => c.description));
 * destroy();
 * ```
 */
export async function openColumns(options: OpenColumnsOptions = {}): Promise<Columns> {
  const count = options.count ?? 2;
  if (count !== 1 && count !== 2) {
    throw new RangeError(`openColumns: count must be 1 or 2, got ${count}`);
  }
  const first = await requestAdapter("high-performance");
  if (!first) throw new Error(NO_ADAPTER_HINT);
  const adapters = [first];
  let sharedAdapter = false;
  if (count === 2) {
    const other = await requestAdapter("low-power");
    if (other && describe(other) !== describe(first)) adapters.push(other);
    else {
      sharedAdapter = true;
      const again = other ?? await requestAdapter("high-performance");
      if (!again) throw new Error(`openColumns: could not request a second adapter object`);
      adapters.push(again);
    }
  }
  const columns: Column[] = [];
  for (const [index, adapter] of adapters.entries()) {
    columns.push(await Column.fromAdapter(adapter, index, options));
  }
  return {
    columns,
    sharedAdapter,
    destroy() {
      for (const c of columns) c.destroy();
    },
  };
}

/** Byte accounting for one column. */
export interface MemoryStats {
  /** Bytes in buffers currently handed out to tensors. */
  inUse: number;
  /** Bytes held from the device: in use plus pooled for reuse. */
  held: number;
  /** The largest `held` seen. */
  peakHeld: number;
  /** Buffers created from the device so far (stays flat once a step is planned). */
  created: number;
}

const STORAGE_USAGE = 0x80 /* STORAGE */ | 0x4 /* COPY_SRC */ | 0x8; /* COPY_DST */

/** One GPU column: a device, its queue, pipelines, pooled buffers and captured errors. */
export class Column {
  /** The device every kernel on this column uses. */
  readonly device: GPUDevice;
  /** Column index: 0 or 1. */
  readonly index: number;
  /** The adapter's description, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)". */
  readonly description: string;
  /** The adapter's info as reported. */
  readonly adapterInfo: GPUAdapterInfo;
  /** Kernel profile chosen for this adapter. */
  readonly profile: Profile;
  #pipelines = new Map<string, Promise<GPUComputePipeline>>();
  #free = new Map<number, GPUBuffer[]>();
  #sizes = new WeakMap<GPUBuffer, number>();
  #error: Error | null = null;
  #lost: string | null = null;
  #lostPromise: Promise<never>;
  #stats: MemoryStats = { inUse: 0, held: 0, peakHeld: 0, created: 0 };

  private constructor(
    device: GPUDevice,
    index: number,
    adapter: GPUAdapter,
    profile: Profile,
  ) {
    this.device = device;
    this.index = index;
    this.adapterInfo = adapter.info;
    this.description = describe(adapter);
    this.profile = profile;
    device.addEventListener("uncapturederror", (e) => {
      const err = (e as GPUUncapturedErrorEvent).error;
      this.#error ??= new Error(`column ${index}: GPU error: ${err.message}`);
    });
    this.#lostPromise = device.lost.then((info) => {
      this.#lost = `column ${index}: device lost (${info.reason}): ${info.message}`;
      throw new Error(this.#lost);
    });
    this.#lostPromise.catch(() => {});
  }

  /** Requests a device from `adapter` with the adapter's maximum buffer/workgroup limits. */
  static async fromAdapter(
    adapter: GPUAdapter,
    index: number,
    options: Pick<OpenColumnsOptions, "profile" | "requiredLimits"> = {},
  ): Promise<Column> {
    const requiredLimits: Record<string, number> = {};
    for (const name of LIMIT_NAMES) {
      const v = (adapter.limits as unknown as Record<string, number>)[name];
      if (typeof v === "number") requiredLimits[name] = v;
    }
    Object.assign(requiredLimits, options.requiredLimits);
    const device = await adapter.requestDevice({
      label: `column ${index}`,
      requiredLimits,
    });
    const profile = options.profile ?? (isSoftware(adapter) ? "software" : "gpu");
    return new Column(device, index, adapter, profile);
  }

  /** The device's limits. */
  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  /** A copy of this column's byte accounting. */
  get memory(): MemoryStats {
    return { ...this.#stats };
  }

  /** Resets the peak to the current `held`. */
  resetPeak(): void {
    this.#stats.peakHeld = this.#stats.held;
  }

  /** Rethrows a captured device error or loss, once. Kernels call it before work. */
  check(): void {
    if (this.#lost) throw new Error(this.#lost);
    const err = this.#error;
    if (err) {
      this.#error = null;
      throw err;
    }
  }

  /**
   * Resolves with `p`, or rejects with the loss reason if the device is lost first.
   * A rejection of `p` that comes from the loss (e.g. a map on a destroyed device)
   * is reported as the loss, not as the generic validation error it surfaces as.
   */
  async guard<T>(p: Promise<T>): Promise<T> {
    try {
      return await Promise.race([p, this.#lostPromise]);
    } catch (e) {
      if (!this.#lost) {
        // device.lost settles a moment after the failure it causes.
        const settled = new Promise((r) => setTimeout(r, 50));
        await Promise.race([this.#lostPromise.catch(() => {}), settled]);
      }
      if (this.#lost) throw new Error(this.#lost);
      throw e;
    }
  }

  /**
   * Returns the compute pipeline for `code`, compiling it once per column. The cache
   * key is the full WGSL source plus entry point, never a hand-made key. Compile
   * errors reject with the kernel's name, line and column. `ALEXNET_DEBUG=1` prints
   * each new shader.
   */
  pipeline(name: string, code: string, entryPoint = "main"): Promise<GPUComputePipeline> {
    const key = `${entryPoint}\n${code}`;
    let cached = this.#pipelines.get(key);
    if (!cached) {
      cached = this.#compile(name, code, entryPoint);
      this.#pipelines.set(key, cached);
      cached.catch(() => this.#pipelines.delete(key));
    }
    return cached;
  }

  async #compile(name: string, code: string, entryPoint: string): Promise<GPUComputePipeline> {
    this.check();
    if (debugEnabled()) console.error(`// ---- ${name} (column ${this.index}) ----\n${code}`);
    this.device.pushErrorScope("validation");
    const module = this.device.createShaderModule({ label: name, code });
    let pipeline: GPUComputePipeline | undefined;
    let thrown: unknown;
    try {
      pipeline = await this.device.createComputePipelineAsync({
        label: name,
        layout: "auto",
        compute: { module, entryPoint },
      });
    } catch (e) {
      thrown = e;
    }
    const scoped = await this.device.popErrorScope();
    if (scoped || thrown || !pipeline) {
      throw await compileError(name, module, scoped?.message ?? String(thrown));
    }
    return pipeline;
  }

  /** Number of distinct pipelines compiled on this column. */
  get pipelineCount(): number {
    return this.#pipelines.size;
  }

  /**
   * A uniform buffer holding `bytes`, written once: a kernel's fixed sizes when its
   * shader reads them at run time (kernels/_wgsl.ts runtimeDims). `label` names it.
   */
  uniformBuffer(label: string, bytes: ArrayBuffer): GPUBuffer {
    this.check();
    const buffer = this.device.createBuffer({
      label,
      size: bytes.byteLength,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    this.device.queue.writeBuffer(buffer, 0, bytes);
    return buffer;
  }

  /**
   * Takes a storage buffer of at least `bytes` (rounded up to 16) from the pool, or
   * creates one. `label` names the tensor in errors and in GPU debuggers.
   */
  acquire(bytes: number, label: string): GPUBuffer {
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    const max = this.limits.maxBufferSize;
    if (size > max) {
      throw new RangeError(
        `${label}: ${size} bytes exceeds column ${this.index}'s maxBufferSize of ${max}`,
      );
    }
    this.check();
    const list = this.#free.get(size);
    let buffer = list?.pop();
    if (!buffer) {
      buffer = this.device.createBuffer({ label, size, usage: STORAGE_USAGE });
      this.#sizes.set(buffer, size);
      this.#stats.held += size;
      this.#stats.created++;
      this.#stats.peakHeld = Math.max(this.#stats.peakHeld, this.#stats.held);
    } else {
      buffer.label = label;
    }
    this.#stats.inUse += size;
    return buffer;
  }

  /** Returns a buffer from {@link acquire} to the pool for reuse. */
  release(buffer: GPUBuffer): void {
    const size = this.#sizes.get(buffer);
    if (size === undefined) throw new Error(`release: buffer ${buffer.label} is not pooled`);
    this.#stats.inUse -= size;
    let list = this.#free.get(size);
    if (!list) this.#free.set(size, list = []);
    list.push(buffer);
  }

  /** Destroys pooled (unused) buffers, returning their memory to the device. */
  trim(): void {
    for (const list of this.#free.values()) {
      for (const b of list) {
        this.#stats.held -= this.#sizes.get(b)!;
        b.destroy();
      }
    }
    this.#free.clear();
  }

  /** Destroys the device. */
  destroy(): void {
    this.trim();
    this.device.destroy();
  }
}

// Deno only, and only when present: the kernels also run in a browser, which has no env.
function debugEnabled(): boolean {
  const deno = (globalThis as { Deno?: { env?: { get(k: string): string | undefined } } }).Deno;
  try {
    return deno?.env?.get("ALEXNET_DEBUG") === "1";
  } catch {
    return false; // no --allow-env
  }
}

async function compileError(
  name: string,
  module: GPUShaderModule,
  message: string,
): Promise<Error> {
  let where = "";
  try {
    const info = await module.getCompilationInfo();
    const m = info.messages.find((x) => x.type === "error");
    if (m) where = ` at line ${m.lineNum}, column ${m.linePos}: ${m.message.trim()}`;
  } catch { /* fall back to the scope's message */ }
  return new Error(`kernel ${name}: shader failed to compile${where || `: ${message}`}`);
}
