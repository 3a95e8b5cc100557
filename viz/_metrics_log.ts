// Reading the JSONL metrics log that `train()` writes (model/train.ts, one TrainEvent per
// line with a "time" field, in <out>/metrics.jsonl) into the series the curves plot.
//
// x is in epochs: step / stepsPerEpoch (an epoch event at step 156 of 156 per epoch is
// x = 1). The events used: "start" (stepsPerEpoch, config, columns, batch), "step"
// (loss, top1Error, top5Error, lr on the training batch), "epoch" (the epoch's training
// means) and "evaluation" (validation). Others ("lr", "checkpoint", unknown types) are
// ignored. A resumed run appends to the same log and may replay steps after its
// checkpoint; the later line for a step wins. A NaN loss is written by JSON as null:
// such points are left out. A last line without its newline is a write the run did not
// finish (it was killed): it is skipped with a warning; any other line that is not JSON
// is an error naming its line number.

/** One point of a series. */
export interface MetricPoint {
  /** Position in epochs (fractional for steps). */
  x: number;
  /** Global step. */
  step: number;
  /** Cross-entropy loss. */
  loss?: number;
  /** Top-1 error fraction. */
  top1?: number;
  /** Top-5 error fraction. */
  top5?: number;
  /** Learning rate (training points only). */
  lr?: number;
}

/** The series of one run's log. */
export interface MetricsLog {
  /** Per training step (training batch before the update). */
  steps: MetricPoint[];
  /** Per completed epoch: the training means. */
  epochs: MetricPoint[];
  /** Validation evaluations. */
  evals: MetricPoint[];
  /** Steps per epoch, if the log says. */
  stepsPerEpoch?: number;
  /** "tiny, 2 columns, batch 32" from the start event, if any. */
  description?: string;
  /** Lines skipped with a reason (e.g. an unfinished last line). */
  warnings: string[];
}

type Json = Record<string, unknown>;

function num(e: Json, key: string, where: string, required: boolean): number | undefined {
  const v = e[key];
  if (v === undefined || v === null) {
    if (required) throw new Error(`${where}: "${e.type}" event has no numeric "${key}"`);
    return undefined;
  }
  if (typeof v !== "number") {
    throw new Error(`${where}: "${e.type}" event's "${key}" is ${JSON.stringify(v)}, not a number`);
  }
  return v;
}

/**
 * Parses a metrics log's text (see the file header). Throws naming the file and line
 * for a line that is not a JSON object, for a step/epoch/evaluation event missing its
 * step, and when no line is usable.
 *
 * @example
 * ```ts
 * import { parseMetricsLog } from "./_metrics_log.ts";
 * const log = parseMetricsLog(
 *   '{"type":"step","step":1,"stepsPerEpoch":2,"epoch":0,"loss":2.3,"lr":0.01}\n',
 * );
 * console.log(log.steps[0].x); // 0.5
 * ```
 */
export function parseMetricsLog(text: string, file = "metrics.jsonl"): MetricsLog {
  const lines = text.split("\n");
  const steps = new Map<number, MetricPoint>();
  const epochs = new Map<number, MetricPoint>();
  const evals = new Map<number, MetricPoint>();
  const warnings: string[] = [];
  let stepsPerEpoch: number | undefined, description: string | undefined;
  // Epoch and evaluation events carry only the step; place them once stepsPerEpoch is known.
  const pending: { point: MetricPoint; epoch: number }[] = [];
  lines.forEach((raw, i) => {
    const line = raw.trim(), where = `${file}:${i + 1}`;
    if (!line) return;
    let e: Json;
    try {
      e = JSON.parse(line);
    } catch (err) {
      if (i === lines.length - 1 && !text.endsWith("\n")) {
        warnings.push(`${where}: skipped an unfinished last line (the run was interrupted?)`);
        return;
      }
      throw new Error(`${where}: not valid JSON (${(err as Error).message})`);
    }
    if (typeof e !== "object" || e === null || Array.isArray(e) || typeof e.type !== "string") {
      throw new Error(`${where}: expected an event object with a "type", got ${line.slice(0, 60)}`);
    }
    if (e.type === "start") {
      stepsPerEpoch = num(e, "stepsPerEpoch", where, false) ?? stepsPerEpoch;
      const parts = [
        e.config,
        e.columns && `${e.columns} column(s)`,
        e.batch && `batch ${e.batch}`,
      ];
      description = parts.filter(Boolean).join(", ") || description;
      return;
    }
    if (e.type !== "step" && e.type !== "epoch" && e.type !== "evaluation") return;
    const step = num(e, "step", where, true)!;
    const point: MetricPoint = {
      x: NaN,
      step,
      loss: num(e, "loss", where, false),
      top1: num(e, "top1Error", where, false),
      top5: num(e, "top5Error", where, false),
    };
    if (e.type === "step") {
      const spe = num(e, "stepsPerEpoch", where, false) ?? stepsPerEpoch;
      stepsPerEpoch = spe;
      point.lr = num(e, "lr", where, false);
      point.x = spe ? step / spe : step;
      steps.set(step, point);
    } else {
      if (e.type === "epoch") point.lr = num(e, "lr", where, false);
      pending.push({ point, epoch: num(e, "epoch", where, true)! });
      (e.type === "epoch" ? epochs : evals).set(step, point);
    }
  });
  // Without a step count the epoch index is the only clock (epoch events are 0-based
  // and report the epoch just completed; evaluations carry the same index).
  for (const { point, epoch } of pending) {
    point.x = stepsPerEpoch ? point.step / stepsPerEpoch : epoch + 1;
  }
  const sorted = (m: Map<number, MetricPoint>) => [...m.values()].sort((a, b) => a.x - b.x);
  const log: MetricsLog = {
    steps: sorted(steps),
    epochs: sorted(epochs),
    evals: sorted(evals),
    stepsPerEpoch,
    description,
    warnings,
  };
  if (!log.steps.length && !log.epochs.length && !log.evals.length) {
    throw new Error(
      `${file}: no step, epoch or evaluation events in ${
        lines.filter((l) => l.trim()).length
      } line(s) — is this a metrics log written by deno task train?`,
    );
  }
  return log;
}

/**
 * Reads `<dir>/metrics.jsonl`, or the file itself when given a file path.
 *
 * @example
 * ```ts ignore
 * const log = await readMetricsLog("out/train");
 * ```
 */
export async function readMetricsLog(path: string): Promise<MetricsLog> {
  let file = path;
  try {
    if ((await Deno.stat(path)).isDirectory) file = `${path.replace(/\/+$/, "")}/metrics.jsonl`;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`${path} does not exist`);
    throw e;
  }
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new Error(`${file}: cannot read (${(e as Error).message})`);
  }
  return parseMetricsLog(text, file);
}
