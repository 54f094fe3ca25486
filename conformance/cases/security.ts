/** Security and HTTP: SEC-1, HTTP-1, HTTP-2, HTTP-3. */
import type { CaseDef } from '../types.js';
import type { CaseContext } from '../context.js';
import { httpCall, type HttpAnswer } from '../wire/http.js';

function http(ctx: CaseContext, url: string, init: { method?: string; headers?: Record<string, string> }, timeoutMs: number): Promise<HttpAnswer> {
  return httpCall(url, init, timeoutMs, ctx.env.adapt?.ca);
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
      same.conn?.close();
      // SEC-1.b: exact comparison, no normalisation: look-alikes of the own origin are foreign.
      const host = new URL(ctx.httpUrl).host;
      // The own origin is `http://` or `https://` + Host, exactly: either scheme matches.
      const scheme = new URL(ctx.httpUrl).protocol;
      const lookAlikes = ['null', `${own}/`, `${own}.evil.example`, `${scheme.toUpperCase()}//${host}`, `${scheme}//evil.${host}`];
      for (const origin of lookAlikes) {
        if (origin === own) continue;
        const r = await ctx.tryConnect({ origin });
        r.conn?.close();
        ctx.check('SEC-1', r.status === 403, r.status === 101 ? `accepted Origin ${origin} (the server's own origin is ${own}; origins are compared exactly)` : `Origin ${origin} answered HTTP ${r.status || r.body}, expected 403`);
      }
    },
  },
  {
    id: 'http.heartbeat',
    title: 'POST /heartbeat with a Bearer token answers 204 on the WebSocket port; a bad token gets 401',
    rules: ['HTTP-1', 'HTTP-3'],
    async run(ctx) {
      const url = `${ctx.httpUrl}/heartbeat`;
      ctx.record('http', 'out', 'POST', `${url} (Bearer token 1)`);
      const ok = await http(ctx, url, { method: 'POST', headers: { authorization: `Bearer ${ctx.tokens[0]}` } }, ctx.waitMs);
      ctx.record('http', 'in', 'status', `${ok.status} ${ok.body.slice(0, 200)}`);
      ctx.check('HTTP-1', ok.status === 204, `POST /heartbeat with a valid token answered ${ok.status}, expected 204`);
      ctx.check('HTTP-3', ok.status !== 404, `POST /heartbeat is not served on the WebSocket port (${ok.status})`);
      for (const [what, headers] of [['a bad token', { authorization: 'Bearer nope-not-a-token' }], ['no Authorization', {}]] as const) {
        const bad = await http(ctx, url, { method: 'POST', headers }, ctx.waitMs);
        ctx.record('http', 'in', 'status', `${what}: ${bad.status} ${bad.body.slice(0, 200)}`);
        ctx.check('HTTP-1', bad.status === 401, `POST /heartbeat with ${what} answered ${bad.status}, expected 401`);
      }
    },
  },
  {
    id: 'http.presence',
    title: 'GET /presence answers {userId, connected, lastSeen, sessions}; connected after a heartbeat',
    rules: ['HTTP-2', 'HTTP-1', 'HTTP-3'],
    async run(ctx) {
      const auth = { authorization: `Bearer ${ctx.tokens[0]}` };
      // HTTP-2: sessions counts the user's open sessions: this one at least.
      const live = await ctx.session(0);
      const sentAt = Date.now();
      const hb = await http(ctx, `${ctx.httpUrl}/heartbeat`, { method: 'POST', headers: auth }, ctx.waitMs);
      ctx.record('http', 'in', 'status', `POST /heartbeat ${hb.status}`);
      const r = await http(ctx, `${ctx.httpUrl}/presence`, { headers: auth }, ctx.waitMs);
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
      // Judged only when the heartbeat was taken (HTTP-1 judges the heartbeat itself).
      if (hb.status === 204) {
        ctx.check('HTTP-2', p.connected === true, `connected is ${JSON.stringify(p.connected)} right after a heartbeat`);
        ctx.check('HTTP-2', Number.isInteger(p.lastSeen), `lastSeen is ${JSON.stringify(p.lastSeen)}, expected an integer (ms since the Unix epoch) after a heartbeat`);
      } else {
        ctx.check('HTTP-2', typeof p.connected === 'boolean', `connected is ${JSON.stringify(p.connected)}`);
        ctx.check('HTTP-2', p.lastSeen === null || Number.isInteger(p.lastSeen), `lastSeen is ${JSON.stringify(p.lastSeen)}`);
      }
      // HTTP-1.b: the heartbeat recorded the user as seen, just now.
      if (typeof p.lastSeen === 'number') ctx.check('HTTP-1', Math.abs(p.lastSeen - Date.now()) < 300_000 && p.lastSeen >= sentAt - 300_000, `lastSeen ${p.lastSeen} is not the time of the heartbeat just posted (${sentAt})`);
      ctx.check('HTTP-1', hb.status === 204 && p.connected === true, `after POST /heartbeat (${hb.status}) the user is not connected`);
      ctx.check('HTTP-2', Number.isInteger(p.sessions) && (p.sessions as number) >= 0, `sessions is ${JSON.stringify(p.sessions)}, expected an integer`);
      if (live.isOpen) ctx.check('HTTP-2', (p.sessions as number) >= 1, `sessions is ${JSON.stringify(p.sessions)} while a session of ${ctx.users[0]} is open`);
      for (const [what, headers] of [['a bad token', { authorization: 'Bearer nope' }], ['no Authorization', {}]] as const) {
        const bad = await http(ctx, `${ctx.httpUrl}/presence`, { headers }, ctx.waitMs);
        ctx.check('HTTP-2', bad.status === 401, `GET /presence with ${what} answered ${bad.status}, expected 401`);
      }
    },
  },
  {
    id: 'http.healthz',
    title: 'GET /healthz answers 200 without authentication while the server serves',
    rules: ['HTTP-5'],
    async run(ctx) {
      const r = await http(ctx, `${ctx.httpUrl}/healthz`, {}, ctx.waitMs);
      ctx.record('http', 'in', 'status', `GET /healthz ${r.status} ${r.body.slice(0, 200)}`);
      ctx.check('HTTP-5', r.status === 200, `GET /healthz answered ${r.status}, expected 200`);
    },
  },
];
