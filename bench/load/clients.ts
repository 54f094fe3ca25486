/**
 * Lean load clients with one interface over both wire styles: Mooring's JSON frames on a plain
 * WebSocket (used against the reference server and the raw `ws` baseline, which speak the same
 * shapes) and Socket.IO events with acknowledgements carrying the same objects.
 */
import WebSocket from 'ws';

export type TargetKind = 'mooring' | 'ws' | 'socketio';

export interface Target {
  kind: TargetKind;
  /** ws://host:port/ws for the JSON kinds, http://host:port for Socket.IO. */
  url: string;
}

export interface Push {
  channel: string;
  data: any;
  position: { epoch: string; offset: number };
  replay?: boolean;
}

export interface BenchConn {
  subscribe(channel: string, since?: { epoch: string; offset: number }): Promise<any>;
  request(payload: unknown): Promise<unknown>;
  onPush: ((p: Push) => void) | null;
  onClose: ((code: number, reason: string) => void) | null;
  close(): void;
  /** A clean close (1000 / disconnect); resolves when the socket is closed. */
  end(): Promise<void>;
}

/** 127.0.0.x source addresses so neither the per-IP cap nor one address's ephemeral ports limit N. */
export function sourceAddress(i: number, spread: boolean): string | undefined {
  return spread ? `127.0.${1 + ((i >> 8) % 4)}.${1 + (i % 250)}` : undefined;
}

export function connect(t: Target, token: string, localAddress?: string): Promise<BenchConn> {
  return t.kind === 'socketio' ? connectSio(t.url, token, localAddress) : connectJson(t.url, token, localAddress);
}

class JsonConn implements BenchConn {
  onPush: ((p: Push) => void) | null = null;
  onClose: ((code: number, reason: string) => void) | null = null;
  private nextId = 1;
  private readonly pending = new Map<string, (m: any) => void>();
  private readonly subWaiters = new Map<string, (m: any) => void>();
  authed: ((m: any) => void) | null = null;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (raw) => this.onMessage(raw.toString()));
    ws.on('close', (code, reason) => {
      for (const r of this.pending.values()) r(null);
      this.pending.clear();
      this.onClose?.(code, reason.toString());
    });
  }

  private onMessage(text: string): void {
    const m = JSON.parse(text);
    switch (m.type) {
      case 'push': this.onPush?.(m); return;
      case 'response': {
        const r = this.pending.get(m.requestId);
        if (r) {
          this.pending.delete(m.requestId);
          r(m);
        }
        return;
      }
      case 'subscribed': {
        const w = this.subWaiters.get(m.channel);
        this.subWaiters.delete(m.channel);
        w?.(m);
        return;
      }
      case 'authenticated': this.authed?.(m); this.authed = null; return;
    }
  }

  subscribe(channel: string, since?: { epoch: string; offset: number }): Promise<any> {
    return new Promise((resolve) => {
      this.subWaiters.set(channel, resolve);
      this.ws.send(JSON.stringify(since ? { type: 'subscribe', channel, since } : { type: 'subscribe', channel }));
    });
  }

  request(payload: unknown): Promise<unknown> {
    const id = String(this.nextId++);
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.ws.send(JSON.stringify({ type: 'request', id, action: 'echo', payload }));
    });
  }

  close(): void {
    this.ws.terminate();
  }

  end(): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      this.ws.once('close', () => resolve());
      this.ws.close(1000);
    });
  }
}

function connectJson(url: string, token: string, localAddress?: string): Promise<BenchConn> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'mooring.v1', { perMessageDeflate: false, localAddress });
    const c = new JsonConn(ws);
    const fail = (e: unknown) => reject(e instanceof Error ? e : new Error(String(e)));
    ws.once('error', fail);
    c.onClose = (code, reason) => fail(new Error(`closed ${code} ${reason} before authenticated`));
    ws.once('open', () => ws.send(JSON.stringify({ type: 'auth', token })));
    c.authed = () => {
      ws.off('error', fail);
      ws.on('error', () => {});
      c.onClose = null;
      resolve(c);
    };
  });
}

let ioModule: typeof import('socket.io-client') | undefined;

async function connectSio(url: string, token: string, localAddress?: string, reconnection = false): Promise<BenchConn> {
  ioModule ??= await import('socket.io-client');
  const socket = ioModule.io(url, { transports: ['websocket'], reconnection, forceNew: true, localAddress, perMessageDeflate: false } as any);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  await new Promise<void>((resolve, reject) => socket.emit('auth', { type: 'auth', token }, (m: any) => (m?.type === 'authenticated' ? resolve() : reject(new Error('auth failed')))));
  const conn: BenchConn = {
    onPush: null,
    onClose: null,
    subscribe: (channel, since) => new Promise((resolve) => socket.emit('subscribe', since ? { type: 'subscribe', channel, since } : { type: 'subscribe', channel }, resolve)),
    request: (payload) => new Promise((resolve) => socket.emit('request', { type: 'request', id: '1', action: 'echo', payload }, resolve)),
    close: () => socket.disconnect(),
    end: async () => {
      socket.disconnect();
    },
  };
  socket.on('push', (p: Push) => conn.onPush?.(p));
  socket.on('disconnect', (reason: string) => conn.onClose?.(0, reason));
  return conn;
}

/** Opens `tokens.length` connections, `concurrency` at a time, subscribing each to `channels`. */
export async function openMany(t: Target, tokens: string[], opts: { channels?: (i: number) => string[]; spread?: boolean; concurrency?: number; onEach?: () => void } = {}): Promise<BenchConn[]> {
  const out: BenchConn[] = new Array(tokens.length);
  let next = 0;
  const worker = async () => {
    while (next < tokens.length) {
      const i = next++;
      const c = await connect(t, tokens[i]!, sourceAddress(i, opts.spread ?? false));
      for (const ch of opts.channels?.(i) ?? []) await c.subscribe(ch);
      out[i] = c;
      opts.onEach?.();
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 100, tokens.length) }, worker));
  return out;
}
