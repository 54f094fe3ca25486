/** What every scenario shares: the server and load processes, tokens, repeats, options. */
import { randomBytes } from 'node:crypto';
import { LOAD_CORE, SERVER_CORE, spawnChild, stopChild, type Child } from '../lib/proc.js';
import type { MachineFacts } from '../lib/machine.js';
import type { HostStart } from '../servers/limits.js';
import type { Target, TargetKind } from '../load/clients.js';

export type ServerKind = TargetKind | 'http';

export interface RunOptions {
  quick: boolean;
  /** Tiny sizes for the CI smoke test. */
  tiny: boolean;
  repeats: number;
  quiet: boolean;
  /** Scenario-specific overrides (e.g. clients for the storm). */
  params: Record<string, string>;
  machine: MachineFacts;
  /** Write the per-scenario JSON/SVG here. */
  resultsDir?: string;
  /** Extra node flags for the server under test (e.g. --cpu-prof). */
  serverFlags?: string[];
}

export interface ScenarioResult {
  scenario: string;
  title: string;
  /** The printed table(s). */
  text: string;
  /** Markdown version for RESULTS.md. */
  markdown: string;
  json: Record<string, unknown>;
  svg?: string;
  /** More plots by file name (without .svg). */
  extraSvg?: Record<string, string>;
  /** Target ratios this scenario measures (id → measured, goal, met). */
  targets: TargetCheck[];
}

export interface TargetCheck {
  id: string;
  text: string;
  measured: number;
  goal: number;
  /** 'le': measured ≤ goal is met; 'ge': measured ≥ goal. */
  cmp: 'le' | 'ge';
  met: boolean;
  note?: string;
}

export function target(id: string, text: string, measured: number, cmp: 'le' | 'ge', goal: number, note?: string): TargetCheck {
  return { id, text, measured, goal, cmp, met: Number.isFinite(measured) && (cmp === 'le' ? measured <= goal : measured >= goal), note };
}

export interface ServerProc {
  child: Child;
  port: number;
  limits: Record<string, unknown>;
  kind: ServerKind;
  target: Target;
}

export async function startServerProc(kind: ServerKind, o: HostStart = {}, flags: string[] = []): Promise<ServerProc> {
  // Profiles named for the server under test, so before/after files are easy to pair.
  const prof = flags.includes('--cpu-prof') ? [`--cpu-prof-name=${kind}${o.fanout ? `-${o.fanout}` : ''}-${Date.now()}.cpuprofile`] : [];
  const child = spawnChild('servers/host', [kind], { core: SERVER_CORE, nodeFlags: ['--expose-gc', ...flags, ...prof], name: `${kind} server` });
  let r: { port: number; limits: Record<string, unknown> };
  try {
    r = await child.rpc.call('start', o);
  } catch (err) {
    await stopChild(child);
    throw err;
  }
  const target: Target = kind === 'socketio'
    ? { kind: 'socketio', url: `http://127.0.0.1:${r.port}` }
    : { kind: kind === 'http' ? 'ws' : kind, url: `ws://127.0.0.1:${r.port}/ws` };
  return { child, port: r.port, limits: r.limits, kind, target };
}

export function startLoad(): Child {
  return spawnChild('load/main', [], { core: LOAD_CORE, nodeFlags: ['--max-old-space-size=4096'], name: 'load generator' });
}

/** Tokens for `n` users, registered with the server. */
export async function makeTokens(s: ServerProc, n: number, prefix = 'u'): Promise<string[]> {
  const pairs: Array<[string, string]> = Array.from({ length: n }, (_, i) => [randomBytes(18).toString('base64url'), `${prefix}${i}`]);
  for (let i = 0; i < pairs.length; i += 5_000) await s.child.rpc.call('addTokens', { pairs: pairs.slice(i, i + 5_000) });
  return pairs.map((p) => p[0]);
}

export async function stop(...children: Array<Child | ServerProc | undefined>): Promise<void> {
  await Promise.all(children.map((c) => (c ? stopChild('child' in c ? c.child : c) : undefined)));
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function num(o: RunOptions, key: string, full: number, quick: number, tiny: number): number {
  const v = o.params[key];
  if (v !== undefined) {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${key}: a number`);
    return n;
  }
  return o.tiny ? tiny : o.quick ? quick : full;
}

export const ratio = (a: number, b: number) => (b > 0 ? a / b : NaN);
