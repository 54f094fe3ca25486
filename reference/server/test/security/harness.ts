/**
 * Security-test harness: a child-process reference server whose file descriptors, RSS and exit the
 * test can measure, plus raw TCP sockets for the attacks (Linux: /proc).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

const ROOT = resolve(import.meta.dirname, '../../../..');
const TSX = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
const CHILD = join(import.meta.dirname, 'child-server.ts');

export interface Stats {
  rss: number;
  heapUsed: number;
  connections: number;
  events: Record<string, number>;
  logBytes: number;
}

export interface ChildServer {
  url: string;
  httpUrl: string;
  port: number;
  tokens: string[];
  proc: ChildProcess;
  /** Open file descriptors of the server process. */
  fds(): number;
  /** Resident set size of the server process, in bytes (from /proc). */
  rssBytes(): number;
  stats(): Promise<Stats>;
  /** Resolves with the exit code and how long after `signal` it came. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(): void;
}

const children = new Set<ChildProcess>();

export function killChildren(): void {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  children.clear();
}

export async function childServer(options: Record<string, unknown> = {}, nodeArgs: string[] = []): Promise<ChildServer> {
  const proc = spawn(process.execPath, [...nodeArgs, '--expose-gc', '--import', TSX, CHILD, JSON.stringify(options)], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(proc);
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  const lines = createInterface({ input: proc.stdout! });
  const waiting: ((l: Record<string, any>) => void)[] = [];
  let ready: (v: Record<string, any>) => void;
  const first = new Promise<Record<string, any>>((r) => (ready = r));
  let started = false;
  lines.on('line', (line) => {
    const v = JSON.parse(line);
    if (!started) {
      started = true;
      ready(v);
    } else waiting.shift()?.(v);
  });
  const info = await Promise.race([first, exited.then((e) => Promise.reject(new Error(`child server exited ${e.code}: ${stderr}`)))]);
  const pid = proc.pid!;
  return {
    url: info.url, httpUrl: info.httpUrl, port: Number(new URL(info.httpUrl).port), tokens: info.tokens, proc, exited,
    fds: () => readdirSync(`/proc/${pid}/fd`).length,
    rssBytes: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024,
    stats: () => new Promise<Stats>((r) => {
      waiting.push((v) => r(v.stats));
      proc.stdin!.write('stats\n');
    }),
    kill: () => proc.kill('SIGKILL'),
  };
}

/** A raw TCP socket to the server, connected. */
export function rawSocket(port: number, allowHalfOpen = false): Promise<Socket> {
  return new Promise((res, rej) => {
    const s = connect({ host: '127.0.0.1', port, allowHalfOpen }, () => res(s));
    s.once('error', rej);
  });
}

/** An upgrade request (headers complete) for `path`, with optional extra header lines. */
export function upgradeRequest(path: string, extra: string[] = []): string {
  return [`GET ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13', ...extra, '', ''].join('\r\n');
}

/** Polls `f` every 50 ms until it returns true or `ms` pass; returns the last value of `f`. */
export async function until(f: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (f()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return f();
}

/** The first `n` bytes a server wrote to `s` (or fewer if it ends). */
export function firstBytes(s: Socket, n = 12): Promise<string> {
  return new Promise((r) => {
    let got = '';
    const on = (d: Buffer) => {
      got += d.toString('latin1');
      if (got.length >= n) done();
    };
    const done = () => {
      s.off('data', on);
      r(got.slice(0, n));
    };
    s.on('data', on);
    s.once('close', done);
    s.once('end', done);
  });
}

/** A masked client WebSocket frame. */
export function frame(opcode: number, payload: Buffer, fin = true): Buffer {
  const mask = Buffer.from([1, 2, 3, 4]);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | len]) : Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | 126, len >> 8, len & 0xff]);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] = body[i]! ^ mask[i % 4]!;
  return Buffer.concat([head, mask, body]);
}
