/**
 * The storm's load side: N clients that stay connected, authenticated and subscribed to one
 * numbered stream, reconnect after the server goes away with a chosen strategy, resume from their
 * last position, and count every push they miss: as a reported gap (the server said
 * `resume: "unavailable"`) or as a silent loss (which must never happen).
 * Socket.IO clients use its built-in reconnection (Manager defaults) and re-join the room.
 */
import WebSocket from 'ws';
import { nowMs } from '../lib/stats.js';
import { sourceAddress, type Target } from './clients.js';
import { nextDelay, type BackoffState, type Strategy } from './backoff-strategies.js';

interface Client {
  i: number;
  /** Index in `StormRun.targets` this client connects to next (multi-node: i mod nodes, then another node on every reconnect). */
  node: number;
  token: string;
  lastN: number;
  pos?: { epoch: string; offset: number };
  gapReported: boolean;
  subscribed: boolean;
  /** ms since the disruption when this client was back and re-subscribed. */
  backAt: number | null;
  attempts: number;
  lostReported: number;
  lostSilent: number;
  /** Pushes published after this client left and before the run ended, for a client that never came back. */
  lostNotBack: number;
  dup: number;
  replayed: number;
  unavailable: number;
  bo: BackoffState;
}

interface StormRun {
  /** One target per node; a single-node run has one. */
  targets: Target[];
  channel: string;
  strategy: Strategy | 'socketio';
  spread: boolean;
  clients: Client[];
  /** Disruption time (nowMs) or null before it. */
  t0: number | null;
  attemptTimes: number[];
  ready: number;
  onReady?: () => void;
  sockets: Array<{ close(): void }>;
  stopped: boolean;
  baseMs: number;
}

let run: StormRun | null = null;

function onPushData(c: Client, n: number, replay: boolean): void {
  if (n <= c.lastN) {
    c.dup++;
    return;
  }
  if (c.lastN >= 0 && n > c.lastN + 1) {
    const missed = n - c.lastN - 1;
    if (c.gapReported) c.lostReported += missed;
    else c.lostSilent += missed;
  }
  c.gapReported = false;
  if (replay) c.replayed++;
  c.lastN = n;
}

function markSubscribed(r: StormRun, c: Client): void {
  if (!c.subscribed) {
    c.subscribed = true;
    if (r.t0 === null) {
      if (++r.ready === r.clients.length) r.onReady?.();
    } else if (c.backAt === null) c.backAt = nowMs() - r.t0;
  }
}

function connectJson(r: StormRun, c: Client): void {
  if (r.stopped) return;
  if (r.t0 !== null) {
    c.attempts++;
    r.attemptTimes.push(nowMs() - r.t0);
  }
  // A handshake that hangs (a SYN dropped by a full accept queue) fails after 10 s and counts as a failed attempt.
  const ws = new WebSocket(r.targets[c.node]!.url, 'mooring.v1', { perMessageDeflate: false, localAddress: sourceAddress(c.i, r.spread), handshakeTimeout: 10_000 });
  r.sockets[c.i] = ws;
  ws.on('error', () => {});
  ws.on('open', () => ws.send(JSON.stringify({ type: 'auth', token: c.token })));
  ws.on('message', (raw) => {
    const m = JSON.parse(raw.toString());
    switch (m.type) {
      case 'authenticated':
        ws.send(JSON.stringify(c.pos ? { type: 'subscribe', channel: r.channel, since: c.pos } : { type: 'subscribe', channel: r.channel }));
        return;
      case 'subscribed':
        if (m.resume === 'unavailable') {
          c.unavailable++;
          c.gapReported = true;
        }
        c.pos = m.position;
        c.bo.attempt = 0;
        c.bo.prevMs = 0;
        markSubscribed(r, c);
        return;
      case 'push':
        c.pos = m.position;
        onPushData(c, m.data.n, m.replay === true);
        return;
    }
  });
  ws.on('close', (code, reason) => {
    c.subscribed = false;
    if (r.stopped) return;
    // Multi-node: the next attempt goes to another node (what a load balancer does), so the clients of a
    // killed node spread over the survivors; one node: always the same URL.
    // Hops of 1..n-1 nodes by client index, so the killed node's clients do not all land on one survivor.
    const n = r.targets.length;
    if (n > 1) c.node = (c.node + 1 + (Math.floor(c.i / n) % (n - 1))) % n;
    const delay = nextDelay(r.strategy as Strategy, code, reason.toString(), c.bo, Math.random, r.baseMs);
    if (delay !== null) setTimeout(() => connectJson(r, c), delay);
  });
}

let io: typeof import('socket.io-client') | undefined;

function connectSio(r: StormRun, c: Client): void {
  const socket = io!.io(r.targets[0]!.url, { transports: ['websocket'], forceNew: true, reconnectionDelay: r.baseMs, reconnectionDelayMax: 5 * r.baseMs, localAddress: sourceAddress(c.i, r.spread), perMessageDeflate: false } as any);
  r.sockets[c.i] = { close: () => socket.disconnect() };
  socket.io.on('reconnect_attempt', () => {
    if (r.t0 === null) return;
    c.attempts++;
    r.attemptTimes.push(nowMs() - r.t0);
  });
  socket.on('connect', () => {
    socket.emit('auth', { type: 'auth', token: c.token }, () => {
      socket.emit('subscribe', { type: 'subscribe', channel: r.channel }, () => {
        // Socket.IO has no resume and no gap signal: what a client misses is lost silently.
        markSubscribed(r, c);
      });
    });
  });
  socket.on('disconnect', () => {
    c.subscribed = false;
  });
  socket.on('push', (m: any) => onPushData(c, m.data.n, false));
}

export function stormHandlers() {
  return {
    /** Connects every client and subscribes it; resolves when all are subscribed. */
    stormStart: async (a: { target: Target; targets?: Target[]; tokens: string[]; channel: string; strategy: Strategy | 'socketio'; spread: boolean; baseMs: number }) => {
      if (a.strategy === 'socketio') io ??= await import('socket.io-client');
      const r: StormRun = {
        targets: a.targets ?? [a.target], channel: a.channel, strategy: a.strategy, spread: a.spread, t0: null, attemptTimes: [], ready: 0, sockets: [], stopped: false, baseMs: a.baseMs,
        clients: a.tokens.map((token, i) => ({ i, node: i % (a.targets?.length ?? 1), token, lastN: -1, gapReported: false, subscribed: false, backAt: null, attempts: 0, lostReported: 0, lostSilent: 0, lostNotBack: 0, dup: 0, replayed: 0, unavailable: 0, bo: { attempt: 0, prevMs: 0 } })),
      };
      run = r;
      const t = performance.now();
      const ready = new Promise<void>((res) => (r.onReady = res));
      // Open in waves so the initial connect is not itself a storm.
      for (let i = 0; i < r.clients.length; i++) {
        if (a.strategy === 'socketio') connectSio(r, r.clients[i]!);
        else connectJson(r, r.clients[i]!);
        if (i % 200 === 199) await new Promise((res) => setTimeout(res, 20));
      }
      await ready;
      return { clients: r.clients.length, ms: performance.now() - t };
    },
    /** The orchestrator is about to disrupt the server: times count from now. */
    stormMark: () => {
      run!.t0 = nowMs();
      return {};
    },
    /** Progress: how many are back (re-subscribed) so far. */
    stormBack: () => ({ back: run!.clients.filter((c) => c.backAt !== null).length, total: run!.clients.length }),
    /** Final figures; `lastN` is the last number the stream published: what is missing at the end is lost too. */
    stormReport: (a: { lastN: number }) => {
      const r = run!;
      r.stopped = true;
      for (const c of r.clients) {
        if (c.lastN < a.lastN) {
          const missed = a.lastN - c.lastN;
          if (!c.subscribed) c.lostNotBack += missed;
          else if (c.gapReported) c.lostReported += missed;
          else c.lostSilent += missed;
          c.lastN = a.lastN;
        }
      }
      const back = r.clients.map((c) => c.backAt).filter((x): x is number => x !== null).sort((x, y) => x - y);
      const sum = (f: (c: Client) => number) => r.clients.reduce((s, c) => s + f(c), 0);
      for (const s of r.sockets) s?.close();
      run = null;
      return {
        clients: r.clients.length,
        back: back.length,
        backTimes: back,
        attemptTimes: r.attemptTimes,
        attempts: sum((c) => c.attempts),
        lostReported: sum((c) => c.lostReported),
        lostSilent: sum((c) => c.lostSilent),
        lostNotBack: sum((c) => c.lostNotBack),
        duplicates: sum((c) => c.dup),
        replayed: sum((c) => c.replayed),
        resumeUnavailable: sum((c) => c.unavailable),
      };
    },
  };
}
