/**
 * Planted server bugs for the fuzzer's self-test: the reference server behind a message-level proxy
 * that breaks exactly one behaviour. Each bug is of a different kind (a duplicated answer, a crash, a
 * leak, a repeated position, an off-by-one limit, a wrong error code); `mooring fuzz` must find each,
 * shrink it, and name the rule it breaks.
 */
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:http';
import WebSocket, { WebSocketServer } from 'ws';
import { startServer, type MooringServer } from '../../../reference/server/index.js';
import { FUZZ_SERVER_OPTIONS } from '../../fuzz/embedded.js';
import { nestingDepth } from '../../fuzz/world.js';

/** Each bug, and the rules a report of it may cite. */
export const BUGS = {
  /** A response whose request id starts with an upper-case letter is sent twice. */
  'double-response': ['REQ-1'],
  /**
   * A frame nested more than 20 levels deep "crashes" the server: every connection closes 1011. (It was
   * 100 under revision 1.1; a 1.2 server refuses anything deeper than maxDepth 32 before parsing, so the
   * crash sits at depths it still accepts.)
   */
  'crash-on-nested': ['ERR-4'],
  /** Unsubscribe is acknowledged at once but never done: pushes keep coming (and the ack overtakes a pending subscribed). */
  'leak-after-unsubscribe': ['SUB-7', 'SUB-2'],
  /** After a resume that replays pushes, the first replayed push is sent twice. */
  'repeat-after-resume': ['SUB-6', 'SUB-8'],
  /** The server advertises maxSubscriptions but accepts one subscription more. */
  'subscription-limit-off-by-one': ['LIMIT-4'],
  /** A frame that is not JSON gets invalid_message instead of invalid_json. */
  'wrong-error-code': ['ERR-1'],
  /** Issue 8's threat (revision 1.2): the server advertises maxDepth 32 but does not enforce it (a deep message is processed). */
  'no-depth-limit': ['LIMIT-6'],
  /** Issue 8's threat (revision 1.2): the server advertises historyBytes but bounds its history by count only. */
  'history-bytes-ignored': ['LIMIT-7'],
  /** Issue 8's threat (revision 1.2): an unknown message type (a pasted token) is echoed in the error. */
  'echo-unknown-type': ['LOG-2'],
} as const satisfies Record<string, readonly string[]>;

export type Bug = keyof typeof BUGS;

export interface Planted {
  url: string;
  tokens: [string, string];
  upstream: MooringServer;
  close(): Promise<void>;
}

export async function startPlanted(bug: Bug): Promise<Planted> {
  // the two 1.2 threats: the upstream runs without the limit, the proxy advertises it
  const unbounded = bug === 'no-depth-limit' ? { maxDepth: 1_000_000 } : bug === 'history-bytes-ignored' ? { historyBytes: 64 * 1024 * 1024 } : {};
  const upstream = await startServer({ ...FUZZ_SERVER_OPTIONS, port: 0, tokensFile: ':memory:', logger: false, ...unbounded });
  const advertised = bug === 'no-depth-limit' ? { maxDepth: 32 } : bug === 'history-bytes-ignored' ? { historyBytes: FUZZ_SERVER_OPTIONS.historyBytes } : null;
  const tokens: [string, string] = [await upstream.createToken('alice'), await upstream.createToken('bob')];
  const http = createServer();
  const wss = new WebSocketServer({
    server: http,
    path: '/ws',
    maxPayload: upstream.params.maxPayloadBytes,
    handleProtocols: (p) => (p.has('mooring.v1') ? 'mooring.v1' : false),
  });
  const downs = new Set<WebSocket>();

  wss.on('connection', (down) => {
    downs.add(down);
    const up = new WebSocket(upstream.url, 'mooring.v1', { perMessageDeflate: false });
    const queue: Array<[Buffer | string, boolean]> = [];
    let authed = false;
    const toUp = (data: Buffer | string, binary: boolean) => (up.readyState === WebSocket.OPEN ? up.send(data, { binary }) : queue.push([data, binary]));
    up.on('open', () => {
      for (const [d, b] of queue.splice(0)) up.send(d, { binary: b });
    });
    up.on('error', () => undefined);
    down.on('error', () => undefined);
    const closeDown = (code: number, reason: string) => {
      if (down.readyState !== WebSocket.OPEN) return;
      if (code === 1005 || code === 1006 || code < 1000) down.terminate();
      else down.close(code, reason);
    };
    up.on('close', (code, reason) => closeDown(code, reason.toString()));
    down.on('close', () => {
      downs.delete(down);
      if (up.readyState === WebSocket.OPEN || up.readyState === WebSocket.CONNECTING) up.terminate();
    });
    const send = (m: unknown) => down.readyState === WebSocket.OPEN && down.send(typeof m === 'string' ? m : JSON.stringify(m));

    down.on('message', (data, isBinary) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      if (isBinary) return toUp(buf, true);
      const text = buf.toString('utf8');
      if (bug === 'crash-on-nested' && nestingDepth(text) > 20) {
        for (const d of downs) d.close(1011, 'internal_error');
        return;
      }
      let m: { type?: unknown; channel?: unknown } | null;
      try {
        m = JSON.parse(text) as { type?: unknown; channel?: unknown } | null;
      } catch {
        if (bug === 'wrong-error-code') return send({ type: 'error', code: 'invalid_message', message: 'bad message' });
        m = null;
      }
      if (bug === 'echo-unknown-type' && m && typeof m === 'object' && typeof m.type === 'string' && !['auth', 'ping', 'request', 'subscribe', 'unsubscribe'].includes(m.type)) {
        return send({ type: 'error', code: 'invalid_message', message: `unknown client message type "${m.type}"` });
      }
      if (bug === 'leak-after-unsubscribe' && authed && m && m.type === 'unsubscribe' && typeof m.channel === 'string' && /^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$/.test(m.channel)) {
        return send({ type: 'unsubscribed', channel: m.channel });
      }
      toUp(text, false);
    });

    let repeatNext = false;
    up.on('message', (data) => {
      const text = String(data);
      const m = JSON.parse(text) as Record<string, unknown>;
      if (m.type === 'authenticated') authed = true;
      if (bug === 'double-response' && m.type === 'response' && /^[A-Z]/.test(String(m.requestId))) {
        send(text);
        return send(text);
      }
      if (advertised && m.type === 'authenticated') return send({ ...m, params: { ...(m.params as object), ...advertised } });
      if (bug === 'subscription-limit-off-by-one' && m.type === 'authenticated') {
        const params = m.params as { maxSubscriptions: number };
        return send({ ...m, params: { ...params, maxSubscriptions: params.maxSubscriptions - 1 } });
      }
      if (bug === 'repeat-after-resume') {
        if (m.type === 'subscribed' && m.resume === 'replayed' && Number(m.replayed) > 0) repeatNext = true;
        else if (m.type === 'push' && m.replay === true && repeatNext) {
          repeatNext = false;
          send(text);
        }
      }
      send(text);
    });
  });

  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}/ws`,
    tokens,
    upstream,
    async close() {
      for (const d of downs) d.terminate();
      wss.close();
      await new Promise<void>((r) => http.close(() => r()));
      await upstream.shutdown();
    },
  };
}
