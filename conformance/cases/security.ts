/** Security and HTTP: SEC-1, HTTP-1, HTTP-2, HTTP-3. */
import type { CaseDef } from '../types.js';

async function http(url: string, init: RequestInit, timeoutMs: number): Promise<{ status: number; body: string; headers: Headers }> {
  const r = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  return { status: r.status, body: await r.text(), headers: r.headers };
}

export const securityCases: CaseDef[] = [
  {
    id: 'sec.origin',
    title: 'refuses a foreign Origin with HTTP 403 and accepts a handshake without Origin',
    rules: ['SEC-1'],
    async run(ctx) {
      const foreign = await ctx.tryConnect({ origin: 'https://evil.example' });
      ctx.check('SEC-1', foreign.status === 403, foreign.status === 101 ? 'accepted Origin https://evil.example' : `Origin https://evil.example answered HTTP ${foreign.status || foreign.body}, expected 403`);
      const none = await ctx.tryConnect({ origin: null });
      ctx.check('SEC-1', none.status === 101, `a handshake without Origin was refused with HTTP ${none.status || none.body}`);
      const own = new URL(ctx.httpUrl).origin;
      const same = await ctx.tryConnect({ origin: own });
      if (same.status !== 101) ctx.info(`the server's own origin ${own} was refused with HTTP ${same.status} (it may sit behind a proxy with another public origin)`, 'SEC-1');
    },
  },
  {
    id: 'http.heartbeat',
    title: 'POST /heartbeat with a Bearer token answers 204 on the WebSocket port; a bad token gets 401',
    rules: ['HTTP-1', 'HTTP-3'],
    async run(ctx) {
      const url = `${ctx.httpUrl}/heartbeat`;
      ctx.record('http', 'out', 'POST', `${url} (Bearer token 1)`);
      const ok = await http(url, { method: 'POST', headers: { authorization: `Bearer ${ctx.tokens[0]}` } }, ctx.waitMs);
      ctx.record('http', 'in', 'status', `${ok.status} ${ok.body.slice(0, 200)}`);
      ctx.check('HTTP-1', ok.status === 204, `POST /heartbeat with a valid token answered ${ok.status}, expected 204`);
      ctx.check('HTTP-3', ok.status !== 404, `POST /heartbeat is not served on the WebSocket port (${ok.status})`);
      for (const [what, headers] of [['a bad token', { authorization: 'Bearer nope-not-a-token' }], ['no Authorization', {}]] as const) {
        const bad = await http(url, { method: 'POST', headers }, ctx.waitMs);
        ctx.record('http', 'in', 'status', `${what}: ${bad.status} ${bad.body.slice(0, 200)}`);
        ctx.check('HTTP-1', bad.status === 401, `POST /heartbeat with ${what} answered ${bad.status}, expected 401`);
      }
    },
  },
  {
    id: 'http.presence',
    title: 'GET /presence answers {userId, connected, lastSeen, sessions}; connected after a heartbeat',
    rules: ['HTTP-2', 'HTTP-3'],
    async run(ctx) {
      const auth = { authorization: `Bearer ${ctx.tokens[0]}` };
      const hb = await http(`${ctx.httpUrl}/heartbeat`, { method: 'POST', headers: auth }, ctx.waitMs);
      ctx.record('http', 'in', 'status', `POST /heartbeat ${hb.status}`);
      const r = await http(`${ctx.httpUrl}/presence`, { headers: auth }, ctx.waitMs);
      ctx.record('http', 'in', 'status', `GET /presence ${r.status} ${r.body.slice(0, 300)}`);
      ctx.require('HTTP-2', r.status === 200, `GET /presence answered ${r.status}`);
      ctx.check('HTTP-2', /json/i.test(r.headers.get('content-type') ?? ''), `content-type "${r.headers.get('content-type')}"`);
      let p: Record<string, unknown> = {};
      try {
        p = JSON.parse(r.body) as Record<string, unknown>;
      } catch {
        ctx.require('HTTP-2', false, 'the body is not JSON');
      }
      ctx.check('HTTP-2', p.userId === ctx.users[0], `userId ${JSON.stringify(p.userId)}, expected "${ctx.users[0]}"`);
      ctx.check('HTTP-2', p.connected === true, `connected is ${JSON.stringify(p.connected)} right after a heartbeat`);
      ctx.check('HTTP-2', typeof p.lastSeen === 'number' || typeof p.lastSeen === 'string', `lastSeen is ${JSON.stringify(p.lastSeen)}`);
      ctx.check('HTTP-2', typeof p.sessions === 'number' || Array.isArray(p.sessions), `sessions is ${JSON.stringify(p.sessions)}`);
      const bad = await http(`${ctx.httpUrl}/presence`, { headers: { authorization: 'Bearer nope' } }, ctx.waitMs);
      ctx.check('HTTP-2', bad.status === 401, `GET /presence with a bad token answered ${bad.status}, expected 401`);
    },
  },
  {
    id: 'http.healthz',
    title: 'GET /healthz answers 200 without authentication while the server serves',
    rules: ['HTTP-5'],
    async run(ctx) {
      const r = await http(`${ctx.httpUrl}/healthz`, {}, ctx.waitMs);
      ctx.record('http', 'in', 'status', `GET /healthz ${r.status} ${r.body.slice(0, 200)}`);
      ctx.check('HTTP-5', r.status === 200, `GET /healthz answered ${r.status}, expected 200`);
    },
  },
];
