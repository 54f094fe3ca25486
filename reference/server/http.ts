/**
 * HTTP endpoints on the WebSocket's port (HTTP-3): the dual-channel heartbeat (HTTP-1), presence
 * (HTTP-2), health, and static files.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname } from 'node:path';
import { judgeToken } from '../core/server/index.js';
import type { ServerMetrics } from './metrics.js';
import type { Presence } from './presence.js';
import { hashToken, type TokenStore } from './token-store.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json; charset=utf-8', '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.txt': 'text/plain; charset=utf-8',
};

export interface HttpDeps {
  tokens: TokenStore;
  wsPath: string;
  staticFiles: Record<string, string>;
  shuttingDown(): boolean;
  /** HTTP-1, HTTP-2, HTTP-6: heartbeats go in, presence comes out. */
  presence: Presence;
  metrics: ServerMetrics | null;
  /** NODE-10: a backend the server needs (Redis) is unreachable. */
  unavailable?(): boolean;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Request targets whose path `new URL` would return unchanged: no dot segments, escapes or fragment. */
const PLAIN_PATH = /^\/(?!\/)[A-Za-z0-9_\-/.]*$/;
const PATH = Symbol('mooring.path');

/**
 * The request target's path, or null when it is no URL (`//host:99999/x`). Parsed once per request
 * (`owns` and the handler share it), and without `URL` for a plain target such as `/heartbeat?x=1`.
 */
function pathOf(req: IncomingMessage): string | null {
  const r = req as IncomingMessage & { [PATH]?: string | null };
  if (r[PATH] !== undefined) return r[PATH];
  const target = req.url ?? '/';
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  return (r[PATH] = PLAIN_PATH.test(path) && !path.includes('/.')
    ? path
    : URL.canParse(target, 'http://localhost') ? new URL(target, 'http://localhost').pathname : null);
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

export function createHttpHandler(deps: HttpDeps) {
  async function bearerUser(req: IncomingMessage): Promise<string | null> {
    const m = BEARER.exec(req.headers.authorization ?? '');
    if (!m) return null;
    const v = judgeToken(await deps.tokens.lookupHash(hashToken(m[1]!)), Date.now());
    if (!v.ok) deps.metrics?.logged('auth_failed', { reason: `http_${v.reason}` }); // OPS-8
    return v.ok ? v.record.userId : null;
  }

  /** HTTP-1, the hot path: one promise (the token store's lookup), no URL object, no async wrapper around it. */
  function heartbeat(req: IncomingMessage, res: ServerResponse): Promise<void> {
    req.resume(); // the body is not used
    const m = BEARER.exec(req.headers.authorization ?? '');
    if (!m) return Promise.resolve(json(res, 401, { error: 'unauthorized' }));
    return deps.tokens.lookupHash(hashToken(m[1]!)).then((record) => {
      const now = Date.now();
      const v = judgeToken(record, now);
      if (!v.ok) {
        deps.metrics?.logged('auth_failed', { reason: `http_${v.reason}` }); // OPS-8
        return json(res, 401, { error: 'unauthorized' });
      }
      // HTTP-1, HTTP-6; NODE-14: a shared presence (Redis) answers once the heartbeat is recorded.
      const shared = deps.presence.heartbeat(v.record.userId, now) as Promise<void> | void;
      if (shared) return shared.then(() => void res.writeHead(204).end(), () => json(res, 503, { error: 'unavailable' })); // NODE-10
      res.writeHead(204).end();
    });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = pathOf(req);
    // A request target such as `//host:99999/x` is no URL: a client error, not a server one.
    if (path === null) return json(res, 400, { error: 'bad_request' });
    const method = req.method ?? 'GET';
    if (path === '/healthz' && method === 'GET') {
      if (deps.shuttingDown()) return json(res, 503, { status: 'shutting_down' });
      return deps.unavailable?.() ? json(res, 503, { status: 'unavailable' }) : json(res, 200, { status: 'ok' }); // NODE-10
    }
    if (path === '/heartbeat' && method === 'POST') return heartbeat(req, res);
    if (path === '/presence' && method === 'GET') {
      const userId = await bearerUser(req);
      if (!userId) return json(res, 401, { error: 'unauthorized' });
      // HTTP-2, HTTP-6: connected = an HTTP heartbeat within the presence window.
      const p = await deps.presence.get(userId);
      return json(res, 200, { userId, connected: p.connected, lastSeen: p.lastSeen, sessions: p.sessions });
    }
    const file = deps.staticFiles[path];
    if (file !== undefined && (method === 'GET' || method === 'HEAD')) {
      let body: Buffer;
      try {
        body = await readFile(file);
      } catch {
        return json(res, 404, { error: 'not_found' });
      }
      res.writeHead(200, { 'content-type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream', 'content-length': body.length, 'cache-control': 'no-cache' });
      res.end(method === 'HEAD' ? undefined : body);
      return;
    }
    if (path === deps.wsPath) return json(res, 426, { error: 'upgrade_required' });
    return json(res, 404, { error: 'not_found' }); // not reached through owns(); kept for direct callers
  }

  /** The routes above: Mooring's own (an attached server leaves every other route to the app). */
  function owns(req: IncomingMessage): boolean {
    const path = pathOf(req);
    if (path === null) return true; // 400: no route could take it
    const method = req.method ?? 'GET';
    return (path === '/healthz' && method === 'GET') || (path === '/heartbeat' && method === 'POST') || (path === '/presence' && method === 'GET')
      || (deps.staticFiles[path] !== undefined && (method === 'GET' || method === 'HEAD')) || path === deps.wsPath;
  }

  return {
    owns,
    handler(req: IncomingMessage, res: ServerResponse): void {
      const fail = () => {
        if (!res.headersSent) json(res, 500, { error: 'internal_error' });
        else res.destroy();
      };
      if (pathOf(req) === '/heartbeat' && req.method === 'POST') {
        heartbeat(req, res).then(undefined, fail);
        return;
      }
      handle(req, res).catch(fail);
    },
  };
}
