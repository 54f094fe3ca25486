/**
 * The program under test, started from the command line the user gave (`--cmd`), spoken to with the
 * JSON lines of the driver contract (spec/client-driver.md).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { DriverCommand, DriverEvent, DriverSettings } from './contract.js';

type Distribute<T> = T extends unknown ? Omit<T, 'id'> : never;
export type CommandBody = Distribute<DriverCommand>;
export type TimedEvent = DriverEvent & { at: number };

export class DriverProc {
  readonly events: TimedEvent[] = [];
  ready: Extract<DriverEvent, { event: 'ready' }> | undefined;
  exited: { code: number | null; signal: string | null; at: number } | undefined;
  stderr = '';
  private seq = 0;
  private waiters: { pred: (e: TimedEvent) => boolean; resolve: (e: TimedEvent | undefined) => void }[] = [];
  private exitWaiters: (() => void)[] = [];
  private readonly child: ChildProcess;
  /** Answers token requests: a fresh token per fetch unless a case overrides it. */
  tokenFor: (fetch: number, reason: string | undefined) => string | undefined;
  readonly tokensGiven: { fetch: number; token: string; at: number; reason?: string }[] = [];

  constructor(readonly cmd: string, readonly label: string, private readonly log: (conn: string, dir: 'in' | 'out' | 'event', data: string) => void) {
    this.child = spawn(cmd, { shell: true, detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env } });
    this.tokenFor = (fetch) => `tok-${label}-${fetch}-${Math.random().toString(36).slice(2, 10)}`;
    createInterface({ input: this.child.stdout! }).on('line', (line) => this.onLine(line));
    this.child.stderr!.on('data', (d: Buffer) => {
      if (this.stderr.length < 20_000) this.stderr += d.toString();
    });
    this.child.on('exit', (code, signal) => {
      this.exited = { code, signal, at: Date.now() };
      this.log(label, 'event', `driver exited (code ${code}, signal ${signal})${this.stderr ? `; stderr: ${this.stderr.slice(-400)}` : ''}`);
      for (const w of this.exitWaiters.splice(0)) w();
      for (const w of this.waiters.splice(0)) w.resolve(undefined);
    });
    this.child.stdin!.on('error', () => {});
  }

  private onLine(line: string): void {
    let e: DriverEvent;
    try {
      e = JSON.parse(line) as DriverEvent;
      if (typeof e !== 'object' || e === null || typeof (e as { event?: unknown }).event !== 'string') throw new Error('no event');
    } catch {
      this.log(this.label, 'event', `stdout noise: ${line.slice(0, 200)}`);
      return;
    }
    const te = { ...e, at: Date.now() } as TimedEvent;
    if (e.event !== 'ack') this.log(this.label, 'event', line.slice(0, 400));
    if (e.event === 'ready') this.ready = e;
    if (e.event === 'token_request') {
      const token = this.tokenFor(e.fetch, e.reason);
      if (token !== undefined) {
        this.tokensGiven.push({ fetch: e.fetch, token, at: Date.now(), ...(e.reason !== undefined ? { reason: e.reason } : {}) });
        void this.send({ cmd: 'token', fetch: e.fetch, token });
      }
    }
    this.events.push(te);
    for (const w of [...this.waiters]) if (w.pred(te)) w.resolve(te);
  }

  /** Sends a command; resolves with the ack (undefined when none came within `timeoutMs`). */
  async send(body: CommandBody, timeoutMs = 5_000): Promise<Extract<DriverEvent, { event: 'ack' }> | undefined> {
    const id = ++this.seq;
    const cmd = { id, ...body } as DriverCommand;
    if (body.cmd !== 'token') this.log(this.label, 'event', `command ${JSON.stringify(cmd).slice(0, 300)}`);
    if (this.exited || !this.child.stdin!.writable) return undefined;
    this.child.stdin!.write(`${JSON.stringify(cmd)}\n`);
    return this.waitEvent((e) => e.event === 'ack' && e.id === id, timeoutMs) as Promise<Extract<DriverEvent, { event: 'ack' }> | undefined>;
  }

  connect(url: string, settings: DriverSettings) {
    return this.send({ cmd: 'connect', url, settings });
  }

  /** The first event (already received from index `from`, or future) matching `pred`. */
  waitEvent(pred: (e: TimedEvent) => boolean, timeoutMs: number, from = 0): Promise<TimedEvent | undefined> {
    const had = this.events.slice(from).find(pred);
    if (had) return Promise.resolve(had);
    if (this.exited) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const w = {
        pred,
        resolve: (e: TimedEvent | undefined) => {
          clearTimeout(t);
          this.waiters = this.waiters.filter((x) => x !== w);
          resolve(e);
        },
      };
      const t = setTimeout(() => w.resolve(undefined), timeoutMs);
      this.waiters.push(w);
    });
  }

  waitReady(timeoutMs: number): Promise<boolean> {
    return this.waitEvent((e) => e.event === 'ready', timeoutMs).then((e) => e !== undefined);
  }

  responses(ref: string): Extract<TimedEvent, { event: 'response' }>[] {
    return this.events.filter((e) => e.event === 'response' && e.ref === ref) as never;
  }

  of<T extends DriverEvent['event']>(type: T, from = 0): Extract<TimedEvent, { event: T }>[] {
    return this.events.slice(from).filter((e) => e.event === type) as never;
  }

  get alive(): boolean {
    return this.exited === undefined;
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    void this.send({ cmd: 'exit' }, 500);
    const gone = new Promise<void>((resolve) => this.exitWaiters.push(resolve));
    // The process group: a shell may have started the driver, and a browser driver has children.
    const signal = (sig: NodeJS.Signals) => {
      try {
        if (this.child.pid) process.kill(-this.child.pid, sig);
      } catch {
        this.child.kill(sig);
      }
    };
    const term = setTimeout(() => signal('SIGTERM'), 3_000);
    const t = setTimeout(() => signal('SIGKILL'), 5_000);
    try {
      this.child.stdin!.end();
    } catch {
      /* gone */
    }
    await Promise.race([gone, new Promise((r) => setTimeout(r, 6_000))]);
    clearTimeout(term);
    clearTimeout(t);
  }
}
