/** Medians and spread over repeats, percentiles, and the HDR histogram for latencies. */
import * as hdr from 'hdr-histogram-js';

export function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Nearest-rank percentile of a (small) array, p in [0, 100]. */
export function percentile(xs: number[], p: number): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i]!;
}

export interface Figure {
  median: number;
  min: number;
  max: number;
  /** Every repeat's value, in run order. */
  runs: number[];
}

export function figure(runs: number[]): Figure {
  const ok = runs.filter((x) => Number.isFinite(x));
  return { median: median(ok), min: ok.length ? Math.min(...ok) : NaN, max: ok.length ? Math.max(...ok) : NaN, runs };
}

/** Folds per-repeat records into one record of figures (numeric fields only). */
export function summarize<T extends Record<string, unknown>>(repeats: T[]): Record<string, Figure> {
  const out: Record<string, Figure> = {};
  const keys = new Set(repeats.flatMap((r) => Object.keys(r)));
  for (const k of keys) {
    const vals = repeats.map((r) => r[k]).filter((v): v is number => typeof v === 'number');
    if (vals.length) out[k] = figure(vals);
  }
  return out;
}

/**
 * Latencies in microseconds, 1 µs .. 60 s, 3 significant digits. hdr-histogram-js (the HdrHistogram
 * port) over a hand-written one: correct bucket maths and percentiles that agree with other tools.
 */
export function latencyHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3, bitBucketSize: 64, useWebAssembly: false });
}

/** Wall-clock ms with sub-ms precision, comparable between processes on one machine. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}
