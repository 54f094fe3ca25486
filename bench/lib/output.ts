/**
 * What a run shows and keeps: a progress bar on stderr (only on a terminal), tables on stdout, and
 * the JSON + SVG files under bench/results/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** bench/results in the source tree (also when running from dist/). */
export function resultsDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const root = here.includes('/dist/') ? join(here, '..', '..', '..') : join(here, '..', '..');
  return join(root, 'bench', 'results');
}

export class Progress {
  private done = 0;
  private readonly tty = process.stderr.isTTY === true;
  constructor(private total: number, private readonly quiet = false) {}

  step(label: string): void {
    this.done++;
    if (this.quiet) return;
    const width = 30;
    const filled = Math.round((this.done / Math.max(1, this.total)) * width);
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.done}/${this.total} ${label}`;
    if (this.tty) process.stderr.write(`\r\x1b[K${line}`);
    else process.stderr.write(`${line}\n`);
  }

  end(): void {
    if (this.tty && !this.quiet) process.stderr.write('\r\x1b[K');
  }
}

export type Cell = string | number | null | undefined;

function fmtCell(c: Cell): string {
  if (c === null || c === undefined || (typeof c === 'number' && Number.isNaN(c))) return '–';
  if (typeof c === 'string') return c;
  const a = Math.abs(c);
  if (a === 0) return '0';
  if (a >= 100) return Math.round(c).toLocaleString('en-US');
  if (a >= 10) return c.toFixed(1);
  return c.toFixed(2);
}

/** A plain-text table; the same rows become a Markdown table with `markdown`. */
export function table(headers: string[], rows: Cell[][], markdown = false): string {
  const cells = rows.map((r) => r.map(fmtCell));
  if (markdown) {
    return [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...cells.map((r) => `| ${r.join(' | ')} |`)].join('\n') + '\n';
  }
  const w = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [line(headers), w.map((n) => '-'.repeat(n)).join('  '), ...cells.map(line)].join('\n') + '\n';
}

export interface Series {
  name: string;
  points: Array<[number, number]>;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#17becf'];

/** A line plot as hand-written SVG (no plotting library for a few polylines). */
export function svgPlot(opts: { title: string; xLabel: string; yLabel: string; series: Series[] }): string {
  const W = 800, H = 420, L = 70, R = 170, T = 40, B = 50;
  const all = opts.series.flatMap((s) => s.points);
  const xMax = Math.max(1e-9, ...all.map((p) => p[0]));
  const yMax = Math.max(1e-9, ...all.map((p) => p[1]));
  const x = (v: number) => L + (v / xMax) * (W - L - R);
  const y = (v: number) => H - B - (v / yMax) * (H - T - B);
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const ticks = (max: number) => [0, 0.25, 0.5, 0.75, 1].map((f) => f * max);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(opts.title)}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`,
  ];
  for (const t of ticks(xMax)) out.push(`<text x="${x(t)}" y="${H - B + 16}" text-anchor="middle">${+t.toPrecision(3)}</text>`);
  for (const t of ticks(yMax)) {
    out.push(`<text x="${L - 6}" y="${y(t) + 4}" text-anchor="end">${+t.toPrecision(3)}</text>`);
    out.push(`<line x1="${L}" y1="${y(t)}" x2="${W - R}" y2="${y(t)}" stroke="#ddd"/>`);
  }
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">${esc(opts.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel)}</text>`);
  opts.series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const pts = s.points.map(([a, b]) => `${x(a).toFixed(1)},${y(b).toFixed(1)}`).join(' ');
    out.push(`<polyline fill="none" stroke="${c}" stroke-width="1.5" points="${pts}"/>`);
    out.push(`<rect x="${W - R + 12}" y="${T + i * 20}" width="12" height="12" fill="${c}"/>`);
    out.push(`<text x="${W - R + 30}" y="${T + i * 20 + 10}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Writes `<name>.json` (and `<name>.svg` when given) under the results directory; returns the paths. */
export function writeResults(name: string, json: unknown, svg?: string, dir = resultsDir()): string[] {
  mkdirSync(dir, { recursive: true });
  const paths = [join(dir, `${name}.json`)];
  writeFileSync(paths[0]!, JSON.stringify(json, null, 2) + '\n');
  if (svg) {
    paths.push(join(dir, `${name}.svg`));
    writeFileSync(paths[1]!, svg);
  }
  return paths;
}
