/**
 * Shared integration-test helpers: real servers on 127.0.0.1:0, real `ws` clients, domain assertions.
 * Every server and client made here is cleaned up after each test (call `useHarness()` at file level).
 */
import { afterEach, expect } from 'vitest';
import WebSocket from 'ws';
import { CLOSE_CODES, parseServerFrame, type ServerMessage } from '../../../schemas/v1/index.js';
import { startServer, type LogEntry, type MooringServer, type ServerOptions } from '../index.js';

export type Msg = ServerMessage & Record<string, any>;

export interface TestServer extends MooringServer {
  logs: LogEntry[];
}

export interface Closed {
  code: number;
  reason: string;
}

const servers = new Set<MooringServer>();
const clients = new Set<Client>();

export function useHarness(): void {
  afterEach(async () => {
    for (const c of clients) c.ws.terminate();
    clients.clear();
    await Promise.all([...servers].map((s) => s.shutdown()));
    servers.clear();
  });
}

export async function start(options: ServerOptions = {}): Promise<TestServer> {
  const logs: LogEntry[] = [];
  const s = await startServer({ port: 0, tokensFile: ':memory:', logger: (e) => logs.push(e), ...options });
  servers.add(s);
  return Object.assign(s, { logs });
}

/** A `ws` client that queues every message; `next` takes the first queued one that matches. */
export class Client {
  private readonly queue: Msg[] = [];
  private waiters: { pred: (m: Msg) => boolean; resolve: (m: Msg) => void }[] = [];
  /** Every message received, in order (never consumed). */
  readonly received: Msg[] = [];
  readonly closed: Promise<Closed>;
  pings = 0;

  constructor(readonly ws: WebSocket) {
    clients.add(this);
    ws.on('message', (data, isBinary) => {
      // VER-5: every server frame is a text frame holding one valid JSON message.
      expect(isBinary).toBe(false);
      const parsed = parseServerFrame(data.toString());
      if (parsed.kind !== 'message') throw new Error(`server sent an invalid frame: ${data.toString().slice(0, 200)}`);
      const m = parsed.message as Msg;
      this.received.push(m);
      const i = this.waiters.findIndex((w) => w.pred(m));
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(m);
      else this.queue.push(m);
    });
    ws.on('ping', () => this.pings++);
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  send(message: object): void {
    this.ws.send(JSON.stringify(message));
  }

  /** The next message of `type` (and matching `pred`), waiting for it if needed. */
  next(type?: string, pred: (m: Msg) => boolean = () => true, timeoutMs = 5_000): Promise<Msg> {
    const match = (m: Msg) => (type === undefined || m.type === type) && pred(m);
    const i = this.queue.findIndex(match);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const w = { pred: match, resolve: (m: Msg) => (clearTimeout(t), resolve(m)) };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`no ${type ?? 'message'} within ${timeoutMs} ms; queued: ${JSON.stringify(this.queue).slice(0, 500)}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /** Queued (unconsumed) messages of a type. */
  queued(type?: string): Msg[] {
    return this.queue.filter((m) => type === undefined || m.type === type);
  }

  /** A request/response round trip. */
  async request(action: string, payload?: unknown, id = `r${++requestSeq}`): Promise<Msg> {
    this.send({ type: 'request', id, action, payload });
    return this.next('response', (m) => m.requestId === id);
  }

  /** A ping/pong round trip: everything the server sent before the pong is queued afterwards. */
  async roundTrip(): Promise<void> {
    this.send({ type: 'ping' });
    await this.next('pong');
  }

  async subscribe(channel: string, since?: { epoch: string; offset: number }): Promise<Msg> {
    this.send({ type: 'subscribe', channel, ...(since ? { since } : {}) });
    return this.next('subscribed', (m) => m.channel === channel);
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }
}
let requestSeq = 0;

export interface ConnectOptions {
  protocols?: string | string[];
  headers?: Record<string, string>;
  autoPong?: boolean;
  url?: string;
}

/** Opens a WebSocket (offering mooring.v1 unless told otherwise). */
export async function connect(server: { url: string }, o: ConnectOptions = {}): Promise<Client> {
  const ws = new WebSocket(o.url ?? server.url, o.protocols ?? 'mooring.v1', { headers: o.headers, autoPong: o.autoPong ?? true });
  const c = new Client(ws);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return c;
}

/** Connects and authenticates as `user` (creating a token unless one is given). */
export async function auth(server: TestServer, user: string, o: ConnectOptions & { token?: string } = {}): Promise<Client & { authenticated: Msg; token: string }> {
  const token = o.token ?? (await server.createToken(user));
  const c = await connect(server, o);
  c.send({ type: 'auth', token });
  const authenticated = await c.next('authenticated');
  return Object.assign(c, { authenticated, token });
}

/** Asserts the connection ends with a close frame carrying `code`; returns code and reason. */
export async function expectClosedWith(c: Client, code: number): Promise<Closed> {
  const closed = await c.closed;
  expect(closed.code).toBe(code);
  return closed;
}

/** The HTTP status of a refused WebSocket handshake. */
export function handshakeStatus(url: string, protocols?: string | string[], headers?: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols ?? [], { headers });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.on('open', () => {
      ws.terminate();
      reject(new Error('handshake unexpectedly accepted'));
    });
    ws.on('error', () => undefined);
  });
}

export function closeName(code: number): string | undefined {
  return Object.values(CLOSE_CODES).find((c) => c.code === code)?.name;
}

/** Waits until `pred()` holds (polled every 10 ms): for server-side state with no client-visible event. */
export async function until(pred: () => boolean, timeoutMs = 5_000): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
