/**
 * The raw `ws` baseline: what a hand-rolled server on the same library does with the same JSON
 * message shapes as Mooring (auth → authenticated, subscribe → subscribed, request echo → response,
 * push, ping → pong), with no validation, limits or history. Fan-out either stringifies per
 * subscriber (the naive loop) or once per push.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import { DEFAULT_PARAMS } from '../../schemas/v1/index.js';
import type { HostStart } from './limits.js';
import type { HostedServer } from './host.js';

interface Conn { user?: string; subs: Set<string>; alive: boolean }

export async function start(o: HostStart): Promise<HostedServer> {
  const tokens = new Map<string, string>();
  const channels = new Map<string, Set<WebSocket>>();
  const offsets = new Map<string, number>();
  const conns = new Map<WebSocket, Conn>();
  const epoch = randomBytes(8).toString('hex');
  const params = { ...DEFAULT_PARAMS, tokenExpiresAt: null };
  const http = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ server: http, path: '/ws', perMessageDeflate: false, maxPayload: params.maxPayloadBytes, handleProtocols: (p) => (p.has('mooring.v1') ? 'mooring.v1' : false) });
  const position = (channel: string) => ({ epoch, offset: offsets.get(channel) ?? 0 });

  wss.on('connection', (ws) => {
    const c: Conn = { subs: new Set(), alive: true };
    conns.set(ws, c);
    ws.on('pong', () => (c.alive = true));
    ws.on('close', () => {
      for (const ch of c.subs) channels.get(ch)?.delete(ws);
      conns.delete(ws);
    });
    ws.on('message', (raw) => {
      let m: any;
      try {
        m = JSON.parse(raw.toString());
      } catch {
        return ws.close(4400, 'bad_json');
      }
      c.alive = true;
      if (m.type === 'auth') {
        const user = tokens.get(m.token);
        if (!user) return ws.close(4401, 'unauthorized');
        c.user = user;
        ws.send(JSON.stringify({ type: 'authenticated', userId: user, sessionId: randomBytes(8).toString('hex'), protocol: 'mooring.v1', params }));
        return;
      }
      if (!c.user) return ws.close(4401, 'unauthorized');
      switch (m.type) {
        case 'request':
          ws.send(JSON.stringify(m.action === 'echo'
            ? { type: 'response', requestId: m.id, success: true, data: m.payload }
            : { type: 'response', requestId: m.id, success: false, error: { code: 'unknown_action', message: 'no such action' } }));
          return;
        case 'subscribe': {
          let set = channels.get(m.channel);
          if (!set) channels.set(m.channel, (set = new Set()));
          set.add(ws);
          c.subs.add(m.channel);
          ws.send(JSON.stringify({ type: 'subscribed', channel: m.channel, position: position(m.channel) }));
          return;
        }
        case 'unsubscribe':
          channels.get(m.channel)?.delete(ws);
          c.subs.delete(m.channel);
          ws.send(JSON.stringify({ type: 'unsubscribed', channel: m.channel }));
          return;
        case 'ping':
          ws.send(JSON.stringify({ type: 'pong', ts: Date.now() }));
          return;
      }
    });
  });
  // Heartbeats like the reference server's: a ping frame every interval, terminate who did not answer.
  const hb = setInterval(() => {
    for (const [ws, c] of conns) {
      if (!c.alive) ws.terminate();
      else {
        c.alive = false;
        ws.ping();
      }
    }
  }, o.heartbeatIntervalMs ?? params.heartbeatIntervalMs);

  await new Promise<void>((r) => http.listen(o.port ?? 0, '127.0.0.1', r));
  const naive = o.fanout !== 'once';
  return {
    port: (http.address() as AddressInfo).port,
    limits: { fanout: naive ? 'naive' : 'serialize-once', heartbeatIntervalMs: o.heartbeatIntervalMs ?? params.heartbeatIntervalMs },
    addTokens: (pairs) => {
      for (const [t, u] of pairs) tokens.set(t, u);
    },
    publish: (channel, data) => {
      const offset = (offsets.get(channel) ?? 0) + 1;
      offsets.set(channel, offset);
      const msg = { type: 'push', channel, data, position: { epoch, offset }, ts: Date.now() };
      const set = channels.get(channel);
      if (!set) return;
      if (naive) for (const ws of set) ws.send(JSON.stringify(msg));
      else {
        const text = JSON.stringify(msg);
        for (const ws of set) ws.send(text);
      }
    },
    shutdown: async () => {
      clearInterval(hb);
      for (const ws of conns.keys()) ws.close(1012, 'server_restart');
      await new Promise<void>((r) => wss.close(() => r()));
      await new Promise<void>((r) => http.close(() => r()));
    },
    connections: () => conns.size,
  };
}
