/** Figures as table cells: median with the spread over repeats. */
import type { Figure } from '../lib/stats.js';

export function n(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  return String(+v.toPrecision(digits));
}

/** "median (min–max)" when repeats differ, else the median. */
export function fig(f: Figure | undefined, digits = 3): string {
  if (!f || !Number.isFinite(f.median)) return '–';
  if (f.runs.length < 2 || f.min === f.max) return n(f.median, digits);
  return `${n(f.median, digits)} (${n(f.min, 2)}–${n(f.max, 2)})`;
}

export function x(v: number): string {
  return Number.isFinite(v) ? `${v.toFixed(2)}×` : '–';
}

export function pct(share: number): string {
  return Number.isFinite(share) ? `${Math.round(share * 100)} %` : '–';
}
