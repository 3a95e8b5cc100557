// The training ETA's rate: recent steps only, the warm-up step left out.

import assert from "node:assert/strict";
import { formatDuration, RecentRate } from "../data/progress.ts";

Deno.test("RecentRate: skips the warm-up, averages the last `window` items", () => {
  const r = new RecentRate({ window: 3, skip: 1 });
  assert.equal(r.eta(10), undefined); // nothing known yet
  r.add(35); // the first step compiles shaders
  assert.equal(r.secondsPerItem, undefined);
  for (const s of [1, 1, 1]) r.add(s);
  assert.equal(r.eta(100), 100);
  r.add(4); // the machine got busier: the window now holds 1, 1, 4
  assert.equal(r.secondsPerItem, 2);
  assert.equal(formatDuration(r.eta(3600)!), "2:00:00");
  // An average since the start would have said (35 + 1 + 1 + 1 + 4) / 5 = 8.4 s per step.
});
