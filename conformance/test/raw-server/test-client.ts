/** Test helpers for the raw server's tests: a minimal raw client and handshake probes. Not part of the server. */
import WebSocket from 'ws';
import { startRawServer, type RawServer, type RawServerOptions } from './server.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Msg = Record<string, any>;

/** Undo-list run after each test (the test file calls runCleanups in afterEach). */
export const cleanups: (() => Promise<void> | void)[] = [];
export async function runCleanups(): Promise<void> {
  while (cleanups.length > 0) await cleanups.pop()!();
}

export async function server(options: RawServerOptions = {}): Promise<RawServer> {
  const s = await startRawServer({ tokens: { T1: 'alice', T2: 'bob' }, ...options });
  cleanups.push(() => s.close());
  return s;
}

/** A minimal raw client: queues messages, lets a test await the next one matching a predicate. */
export class Client {
  readonly ws: WebSocket;
  private queue: Msg[] = [];
  private waiters: { pred: (m: Msg) => boolean; resolve: (m: Msg) => void; reject: (e: Error) => void }[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  /** How many binary frames arrived (VER-5: there should be none). */
  binaryFrames = 0;

  constructor(url: string, opts: { protocols?: string[]; headers?: Record<string, string>; autoPong?: boolean } = {}) {
    this.ws = new WebSocket(url, opts.protocols ?? ['mooring.v1'], { headers: opts.headers, autoPong: opts.autoPong ?? true });
    this.ws.on('error', () => {});
    cleanups.push(() => this.ws.terminate());
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      this.ws.once('error', reject);
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => {
        for (const w of this.waiters) w.reject(new Error(`closed ${code} ${reason.toString()}`));
        this.waiters = [];
        resolve({ code, reason: reason.toString() });
      });
    });
    this.ws.on('message', (data, isBinary) => {
      if (isBinary) this.binaryFrames++;
      const msg = JSON.parse(data.toString()) as Msg;
      const i = this.waiters.findIndex((w) => w.pred(msg));
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(msg);
      else this.queue.push(msg);
    });
  }

  static async connect(url: string, opts?: ConstructorParameters<typeof Client>[1]): Promise<Client> {
    const c = new Client(url, opts);
    await c.opened;
    return c;
  }

  static async authed(url: string, token = 'T1'): Promise<Client> {
    const c = await Client.connect(url);
    c.send({ type: 'auth', token });
    await c.next((m) => m.type === 'authenticated');
    return c;
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  next(pred: (m: Msg) => boolean = () => true): Promise<Msg> {
    const i = this.queue.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => this.waiters.push({ pred, resolve, reject }));
  }

  /** Every message up to and including the first one matching `pred` (used with an echo as a barrier). */
  async until(pred: (m: Msg) => boolean): Promise<Msg[]> {
    const seen: Msg[] = [];
    for (;;) {
      const m = await this.next();
      seen.push(m);
      if (pred(m)) return seen;
    }
  }

  async request(action: string, payload?: unknown, id = `r${Math.random()}`): Promise<Msg> {
    this.send({ type: 'request', id, action, payload });
    return this.next((m) => m.type === 'response' && m.requestId === id);
  }
}

export function handshakeStatus(url: string, opts: { protocols?: string[]; headers?: Record<string, string> } = {}): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, opts.protocols ?? ['mooring.v1'], { headers: opts.headers });
    ws.on('error', () => {});
    ws.once('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
  });
}


/** A short text for a message: its type and, when present, its code. */
export function describeMsg(m: Msg): string {
  return [m.type, m.code ?? m.error?.code, m.requestId].filter((x) => x !== undefined).join(' ');
}

/** The first of: a message matching `pred` (described), or the close of the connection (`closed CODE`). */
export function firstEvent(c: Client, pred: (m: Msg) => boolean = () => true): Promise<string> {
  return Promise.race([
    c.next(pred).then(describeMsg, () => new Promise<string>(() => {})),
    c.closed.then(({ code }) => `closed ${code}`),
  ]);
}

/** Resolves after `n` WebSocket ping frames from the server: the server's own clock, used instead of sleeps. */
export function pingFrames(c: Client, n: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const on = () => {
      if (++seen >= n) {
        c.ws.off('ping', on);
        resolve();
      }
    };
    c.ws.on('ping', on);
  });
}

/** `closed CODE` if the connection closes before `n` server ping frames arrive, else `open`. */
export function closesWithin(c: Client, n: number): Promise<string> {
  return Promise.race([c.closed.then(({ code }) => `closed ${code}`), pingFrames(c, n).then(() => 'open')]);
}

/** Outcome of a handshake: `101 <selected protocol>`, the HTTP status, or `error`. */
export function handshakeOutcome(url: string, opts: { protocols?: string[]; headers?: Record<string, string> } = {}): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, opts.protocols ?? ['mooring.v1'], { headers: opts.headers });
    ws.once('error', () => resolve('error'));
    ws.once('open', () => {
      resolve(`101 ${ws.protocol}`);
      ws.terminate();
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(String(res.statusCode));
      res.resume();
      ws.terminate();
    });
  });
}
