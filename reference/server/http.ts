/**
 * HTTP endpoints on the WebSocket's port (HTTP-3): the dual-channel heartbeat (HTTP-1), presence
 * (HTTP-2), health, and static files.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname } from 'node:path';
import { DEFAULT_HTTP_HEARTBEAT } from '../../schemas/v1/index.js';
import { judgeToken } from '../core/server/index.js';
import type { TokenStore } from './tokens-file.js';

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
  sessionCount(userId: string): number;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function createHttpHandler(deps: HttpDeps) {
  /** HTTP-1, HTTP-2: last heartbeat per user. */
  const lastSeen = new Map<string, number>();

  async function bearerUser(req: IncomingMessage): Promise<string | null> {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!m) return null;
    const v = judgeToken(await deps.tokens.lookup(m[1]!), Date.now());
    return v.ok ? v.record.userId : null;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // A request target such as `//host:99999/x` is no URL: a client error, not a server one.
    if (!URL.canParse(req.url ?? '/', 'http://localhost')) return json(res, 400, { error: 'bad_request' });
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const method = req.method ?? 'GET';
    if (path === '/healthz' && method === 'GET') {
      return deps.shuttingDown() ? json(res, 503, { status: 'shutting_down' }) : json(res, 200, { status: 'ok' });
    }
    if (path === '/heartbeat' && method === 'POST') {
      req.resume(); // the body is not used
      const userId = await bearerUser(req);
      if (!userId) return json(res, 401, { error: 'unauthorized' });
      lastSeen.set(userId, Date.now()); // HTTP-1
      res.writeHead(204).end();
      return;
    }
    if (path === '/presence' && method === 'GET') {
      const userId = await bearerUser(req);
      if (!userId) return json(res, 401, { error: 'unauthorized' });
      const seen = lastSeen.get(userId) ?? null;
      // HTTP-2: connected = an HTTP heartbeat within the presence window.
      return json(res, 200, {
        userId,
        connected: seen !== null && Date.now() - seen < DEFAULT_HTTP_HEARTBEAT.presenceWindowMs,
        lastSeen: seen,
        sessions: deps.sessionCount(userId),
      });
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
    if (!URL.canParse(req.url ?? '/', 'http://localhost')) return true; // 400: no route could take it
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const method = req.method ?? 'GET';
    return (path === '/healthz' && method === 'GET') || (path === '/heartbeat' && method === 'POST') || (path === '/presence' && method === 'GET')
      || (deps.staticFiles[path] !== undefined && (method === 'GET' || method === 'HEAD')) || path === deps.wsPath;
  }

  return {
    owns,
    handler(req: IncomingMessage, res: ServerResponse): void {
      handle(req, res).catch(() => {
        if (!res.headersSent) json(res, 500, { error: 'internal_error' });
        else res.destroy();
      });
    },
  };
}
