/**
 * The Socket.IO baseline with the same JSON shapes: the client emits `auth`, `subscribe` and
 * `request` with an acknowledgement that carries Mooring's reply object; pushes go to a room with
 * `io.to(channel).emit('push', push)`. WebSocket transport only, compression off.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Server } from 'socket.io';
import { DEFAULT_PARAMS } from '../../schemas/v1/index.js';
import type { HostStart } from './limits.js';
import type { HostedServer } from './host.js';

export async function start(o: HostStart): Promise<HostedServer> {
  const tokens = new Map<string, string>();
  const offsets = new Map<string, number>();
  const epoch = randomBytes(8).toString('hex');
  const params = { ...DEFAULT_PARAMS, tokenExpiresAt: null };
  const http = createServer();
  const io = new Server(http, {
    transports: ['websocket'],
    perMessageDeflate: false,
    httpCompression: false,
    serveClient: false,
    maxHttpBufferSize: params.maxPayloadBytes,
    pingInterval: o.heartbeatIntervalMs ?? 25_000,
  });
  io.on('connection', (socket) => {
    let user: string | undefined;
    socket.on('auth', (m: any, ack?: (r: unknown) => void) => {
      user = tokens.get(m?.token);
      if (!user) return void socket.disconnect(true);
      ack?.({ type: 'authenticated', userId: user, sessionId: socket.id, protocol: 'mooring.v1', params });
    });
    socket.on('subscribe', (m: any, ack?: (r: unknown) => void) => {
      if (!user) return;
      void socket.join(m.channel);
      ack?.({ type: 'subscribed', channel: m.channel, position: { epoch, offset: offsets.get(m.channel) ?? 0 } });
    });
    socket.on('request', (m: any, ack?: (r: unknown) => void) => {
      if (!user) return;
      ack?.({ type: 'response', requestId: m.id, success: true, data: m.payload });
    });
  });
  await new Promise<void>((r) => http.listen(o.port ?? 0, '127.0.0.1', r));
  return {
    port: (http.address() as AddressInfo).port,
    limits: { transports: 'websocket', perMessageDeflate: false, pingInterval: o.heartbeatIntervalMs ?? 25_000 },
    addTokens: (pairs) => {
      for (const [t, u] of pairs) tokens.set(t, u);
    },
    publish: (channel, data) => {
      const offset = (offsets.get(channel) ?? 0) + 1;
      offsets.set(channel, offset);
      io.to(channel).emit('push', { type: 'push', channel, data, position: { epoch, offset }, ts: Date.now() });
    },
    shutdown: async () => {
      // A restart, not a kick-out: io.disconnectSockets() would tell clients not to reconnect.
      await new Promise<void>((r) => io.close(() => r()));
    },
    connections: () => io.engine.clientsCount,
  };
}
