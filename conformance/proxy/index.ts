/**
 * The fault-injecting TCP proxy (Ably-style proxy tests): the suite's clients connect to it, it
 * connects to the server under test, passes the HTTP upgrade through, then parses WebSocket frames in
 * both directions and applies rules of the form `{match, action, times}`:
 *
 * - `drop`: the matching frame is not forwarded (e.g. the client's pongs, HB-1);
 * - `delay`: the matching frame is forwarded `delayMs` later, order preserved;
 * - `blackhole`: from the matching frame on, nothing more passes in that direction and its FIN is
 *   swallowed (a half-open connection);
 * - `rst`: both TCP connections are reset at once (no close frame, no FIN);
 * - `throttle`: reading from the sending side is limited to `bytesPerSec` (0 = stop reading), so the
 *   sender's buffers fill (a slow consumer, LIMIT-3).
 */
import net from 'node:net';
import { FrameReader, OPCODES, messageType, opcodeName, type Frame, type OpcodeName } from './frames.js';

export type Direction = 'to-server' | 'to-client';

export interface ProxyRule {
  match: {
    direction: Direction;
    /** Frame opcode(s) by name; any when absent. */
    opcode?: OpcodeName | OpcodeName[];
    /** Mooring message type of a text frame. */
    type?: string;
  };
  action: 'drop' | 'delay' | 'blackhole' | 'rst' | 'throttle';
  /** How many times the rule fires; default unlimited. */
  times?: number;
  /** For `delay`. @default 0 */
  delayMs?: number;
  /** For `throttle`: bytes per second read from the sender; 0 stops reading. @default 0 */
  bytesPerSec?: number;
}

export interface ProxyOptions {
  /** The server under test. */
  target: { host: string; port: number };
  rules?: ProxyRule[];
  /** Called for every rule that fires and every connection event (for transcripts). */
  onEvent?: (event: string) => void;
}

interface Half {
  dir: Direction;
  from: net.Socket;
  to: net.Socket;
  http: boolean;
  head: Buffer;
  reader: FrameReader;
  blackholed: boolean;
  chain: Promise<void>;
  lastAt: number;
}

export class FaultProxy {
  readonly server: net.Server;
  private rules: (ProxyRule & { left: number })[] = [];
  private sockets = new Set<net.Socket>();
  private halves: Half[] = [];
  private onEvent: (e: string) => void;
  /** Frames seen per direction and opcode. */
  readonly stats: Record<string, number> = {};

  private constructor(private opts: ProxyOptions) {
    this.onEvent = opts.onEvent ?? (() => {});
    for (const r of opts.rules ?? []) this.add(r);
    this.server = net.createServer((client) => this.accept(client));
  }

  static async start(opts: ProxyOptions): Promise<FaultProxy> {
    const p = new FaultProxy(opts);
    await new Promise<void>((resolve, reject) => {
      p.server.once('error', reject);
      p.server.listen(0, '127.0.0.1', () => resolve());
    });
    return p;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** The URL a client uses to reach `targetUrl` through the proxy. */
  urlFor(targetUrl: string): string {
    const u = new URL(targetUrl);
    u.host = `127.0.0.1:${this.port}`;
    return u.toString();
  }

  add(rule: ProxyRule): void {
    this.rules.push({ ...rule, left: rule.times ?? Number.POSITIVE_INFINITY });
    this.kick();
  }

  /** Removes every rule (a throttled sender is read again). */
  clear(): void {
    this.rules = [];
    this.kick();
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private accept(client: net.Socket): void {
    const upstream = net.connect(this.opts.target.port, this.opts.target.host);
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.setNoDelay(true);
      s.on('error', () => {});
      s.on('close', () => this.sockets.delete(s));
    }
    this.onEvent('proxy: connection accepted');
    const mk = (dir: Direction, from: net.Socket, to: net.Socket): Half => ({
      dir, from, to, http: true, head: Buffer.alloc(0), reader: new FrameReader(), blackholed: false, chain: Promise.resolve(), lastAt: 0,
    });
    const up = mk('to-server', client, upstream);
    const down = mk('to-client', upstream, client);
    this.halves.push(up, down);
    for (const h of [up, down]) {
      h.from.on('data', (chunk: Buffer) => this.onData(h, chunk));
      h.from.on('end', () => {
        if (!h.blackholed) h.chain.then(() => h.to.end());
      });
      h.from.on('close', () => {
        if (!h.blackholed) h.chain.then(() => h.to.destroySoon?.() ?? h.to.end());
      });
    }
  }

  private onData(h: Half, chunk: Buffer): void {
    if (h.blackholed) return;
    this.throttle(h, chunk.length);
    if (h.http) {
      h.head = Buffer.concat([h.head, chunk]);
      const end = h.head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = h.head.subarray(0, end + 4);
      const rest = h.head.subarray(end + 4);
      h.http = false;
      this.forward(h, head, 0);
      // A refused upgrade (non-101) stays plain HTTP: pass the rest through untouched.
      if (h.dir === 'to-client' && !/^HTTP\/1\.1 101/.test(head.toString('latin1'))) {
        h.blackholed = false;
        h.reader = new FrameReader();
        this.forward(h, rest, 0);
        h.from.removeAllListeners('data');
        h.from.on('data', (c: Buffer) => this.forward(h, c, 0));
        return;
      }
      if (rest.length) this.onFrames(h, rest);
      return;
    }
    this.onFrames(h, chunk);
  }

  private onFrames(h: Half, chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = h.reader.push(chunk);
    } catch (e) {
      this.onEvent(`proxy: unparseable ${h.dir} stream (${(e as Error).message}); passing bytes through`);
      this.forward(h, chunk, 0);
      return;
    }
    for (const f of frames) {
      if (h.blackholed) return;
      const name = opcodeName(f.opcode);
      const key = `${h.dir}:${name}`;
      this.stats[key] = (this.stats[key] ?? 0) + 1;
      const rule = this.matchRule(h.dir, f);
      if (!rule) {
        this.forward(h, f.raw, 0);
        continue;
      }
      const what = `${h.dir} ${name}${messageType(f) ? ` ${messageType(f)}` : ''}`;
      switch (rule.action) {
        case 'drop':
          this.onEvent(`proxy: dropped ${what}`);
          break;
        case 'delay':
          this.onEvent(`proxy: delayed ${what} by ${rule.delayMs ?? 0} ms`);
          this.forward(h, f.raw, rule.delayMs ?? 0);
          break;
        case 'blackhole':
          this.onEvent(`proxy: blackholed ${h.dir} from ${what} on (no FIN)`);
          h.blackholed = true;
          return;
        case 'rst':
          this.onEvent(`proxy: reset both TCP connections at ${what}`);
          h.from.resetAndDestroy();
          h.to.resetAndDestroy();
          return;
        case 'throttle':
          this.forward(h, f.raw, 0);
          break;
      }
    }
  }

  private matchRule(dir: Direction, f: Frame): (ProxyRule & { left: number }) | undefined {
    for (const r of this.rules) {
      if (r.left <= 0 || r.action === 'throttle' || r.match.direction !== dir) continue;
      if (r.match.opcode) {
        const ops = Array.isArray(r.match.opcode) ? r.match.opcode : [r.match.opcode];
        if (!ops.some((o) => OPCODES[o] === f.opcode)) continue;
      }
      if (r.match.type && messageType(f) !== r.match.type) continue;
      r.left--;
      return r;
    }
    return undefined;
  }

  /** Throttle rules limit how fast the proxy reads from the sending socket. */
  private throttle(h: Half, bytes: number): void {
    const r = this.rules.find((x) => x.action === 'throttle' && x.left > 0 && x.match.direction === h.dir);
    if (!r) return;
    const bps = r.bytesPerSec ?? 0;
    h.from.pause();
    if (bps > 0) setTimeout(() => this.kick(), Math.ceil((bytes / bps) * 1000)).unref();
  }

  /** Resumes reading on every half that no throttle rule stops. */
  private kick(): void {
    for (const h of this.halves) {
      const r = this.rules.find((x) => x.action === 'throttle' && x.left > 0 && x.match.direction === h.dir);
      if (!r || (r.bytesPerSec ?? 0) > 0) {
        if (h.from.isPaused()) h.from.resume();
      } else if (!h.from.isPaused()) h.from.pause();
    }
  }

  /** Writes in order; a delayed frame holds back those after it. */
  private forward(h: Half, bytes: Buffer, delayMs: number): void {
    if (!bytes.length) return;
    const copy = Buffer.from(bytes);
    const at = Math.max(Date.now() + delayMs, h.lastAt);
    h.lastAt = at;
    h.chain = h.chain.then(async () => {
      const wait = at - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (!h.to.destroyed && h.to.writable) h.to.write(copy);
    });
  }
}
