/**
 * The preflight: before any case, checks what a run needs from its setup — something listens (TCP),
 * the WebSocket upgrade succeeds at the path, the server speaks mooring.v1, each token authenticates
 * (naming the flag it came from), the tokens belong to distinct users, and the conformance profile's
 * actions exist. A failure is a setup error (one line: the cause and the fix; `mooring test` exits
 * 2), never a verdict about the server.
 *
 * What is a verdict and not a setup error: a server that speaks Mooring but breaks a handshake rule
 * (selects no subprotocol, VER-2; refuses a handshake without Origin, SEC-1) is adapted to and graded
 * by those rules' cases; an action that answers wrongly is graded by CONF-1..3. Only what leaves the
 * suite nothing to grade (nobody listens, wrong path, not Mooring, a refused token, no profile) stops
 * the run.
 */
import net from 'node:net';
import WebSocket from 'ws';
import { SUBPROTOCOL, closeCodeInfo, type AuthenticatedMessage } from '../schemas/v1/index.js';
import { redact } from './wire/redact.js';

/** A setup or usage problem: the message is one line naming the cause and the fix. */
export class SetupError extends Error {
  constructor(message: string, readonly kind: 'setup' | 'usage' = 'setup') {
    super(message);
  }
}

/**
 * The preflight met a broken rule, not a setup mistake: the server speaks Mooring and answered
 * `authenticated`, but without usable params (AUTH-5). No case can run without them, so this is
 * the run's one verdict: a fail charged to the rule (exit 1), never a setup error (exit 2).
 */
export class PreflightViolation extends Error {
  constructor(readonly rule: string, message: string) {
    super(message);
  }
}

/**
 * How the run's connections adapt to a server that refuses the suite's default handshake, and the
 * certificate authorities they trust for wss:// (`ca`, PEM; Node's roots when absent).
 */
export type Adapt = { noSubprotocol?: boolean; origin?: string; ca?: string | Buffer };

/** A token and where it came from (`--token`, `--token2`, `--tokens-file line 3`, `minted user x`). */
export interface SourcedToken {
  token: string;
  label: string;
}

type Attempt =
  | { kind: 'authenticated'; msg: AuthenticatedMessage; protocol: string }
  | { kind: 'http'; status: number }
  | { kind: 'no-subprotocol' }
  | { kind: 'closed'; code: number; reason: string; protocol: string; frames: string[] }
  | { kind: 'timeout'; opened: boolean; protocol: string; frames: string[] }
  | { kind: 'error'; message: string };

/** Checks that the URL is one the suite can test (ws:// or wss:// with a host). */
export function checkUrl(url: string): URL {
  let u: URL | undefined;
  try {
    u = new URL(url);
  } catch {
    u = undefined;
  }
  if (u && (u.protocol === 'ws:' || u.protocol === 'wss:') && u.hostname) return u;
  // A scheme-less host:port, or http(s):// given for ws(s)://: suggest the URL meant.
  let hint: string;
  if (u && (u.protocol === 'http:' || u.protocol === 'https:')) hint = url.replace(/^http/i, 'ws');
  else if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) hint = `ws://${url}${/\//.test(url) ? '' : '/ws'}`;
  else hint = 'ws://host:port/ws';
  throw new SetupError(`"${url}" is not a ws:// or wss:// URL: did you mean ${hint}?`, 'usage');
}

const portOf = (u: URL) => Number(u.port || (u.protocol === 'wss:' ? 443 : 80));

/** TCP: something accepts connections at host:port. */
export async function checkTcp(url: string, timeoutMs: number): Promise<void> {
  const u = checkUrl(url);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const where = `${u.hostname}:${portOf(u)}`;
  await new Promise<void>((resolve, reject) => {
    const s = net.connect({ host, port: portOf(u) });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new SetupError(`no answer from ${where} within ${timeoutMs} ms (TCP connect timed out): is the address right, and is a firewall in the way?`));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve();
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.code === 'ECONNREFUSED') reject(new SetupError(`nothing listens at ${where} (connection refused): is the server running?`));
      else if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') reject(new SetupError(`cannot resolve the host "${u.hostname}" (${e.code}): is the URL right?`));
      else reject(new SetupError(`cannot connect to ${where} (${e.code ?? e.message}): is the server running?`));
    });
  });
}

/** One handshake and auth: what happened, up to `authenticated`. */
function attempt(url: string, adapt: Adapt, token: string, timeoutMs: number): Promise<Attempt> {
  return new Promise((resolve) => {
    const frames: string[] = [];
    let opened = false;
    const ws = new WebSocket(url, adapt.noSubprotocol ? [] : [SUBPROTOCOL], { perMessageDeflate: false, handshakeTimeout: timeoutMs, origin: adapt.origin, ca: adapt.ca });
    const timer = setTimeout(() => done({ kind: 'timeout', opened, protocol: ws.protocol, frames }), timeoutMs);
    let settled = false;
    const done = (a: Attempt) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.removeAllListeners();
      ws.on('error', () => {});
      if (ws.readyState === WebSocket.OPEN) ws.close(1000);
      else ws.terminate();
      resolve(a);
    };
    ws.on('unexpected-response', (req, res) => {
      req.destroy();
      done({ kind: 'http', status: res.statusCode ?? 0 });
    });
    ws.on('error', (e) => done(/no subprotocol/i.test(e.message) ? { kind: 'no-subprotocol' } : { kind: 'error', message: redact(e.message) }));
    ws.on('open', () => {
      opened = true;
      ws.send(JSON.stringify({ type: 'auth', token }));
    });
    ws.on('message', (d, isBinary) => {
      const text = isBinary ? '<binary>' : d.toString();
      if (frames.length < 3) frames.push(text.slice(0, 80));
      try {
        const m = JSON.parse(text) as AuthenticatedMessage;
        if (m && m.type === 'authenticated') done({ kind: 'authenticated', msg: m, protocol: ws.protocol });
      } catch {
        /* judged by the cases (VER-5) */
      }
    });
    ws.on('close', (code, reason) => done({ kind: 'closed', code, reason: reason.toString(), protocol: ws.protocol, frames }));
  });
}

const closeText = (code: number, reason: string) => {
  const name = closeCodeInfo(code)?.name;
  return `${code}${name ? ` ${name}` : reason ? ` "${redact(reason).slice(0, 60)}"` : ''}`;
};

/** Maps what a token's auth met to the one line of a setup error. */
function refusal(a: Exclude<Attempt, { kind: 'authenticated' }>, url: string, label: string, timeoutMs: number): SetupError {
  const u = new URL(url);
  const path = u.pathname || '/';
  switch (a.kind) {
    case 'http': {
      const s = a.status;
      if (s === 404) return new SetupError(`HTTP 404 at ${path}: ${path === '/ws' ? 'is this the server\'s WebSocket path?' : 'is the path /ws?'}`);
      if (s === 401 || s === 403) return new SetupError(`HTTP ${s} at ${path}: the server refuses the suite's handshake (with and without an Origin of its own host): does it allow-list origins or authenticate the upgrade itself?`);
      if (s === 429) return new SetupError(`HTTP 429 at ${path}: the server refuses more connections from this address (per-IP limit): are other clients connected?`);
      if (s === 503) return new SetupError(`HTTP 503 at ${path}: the server is not ready or is shutting down`);
      return new SetupError(`HTTP ${s} at ${path} instead of 101 Switching Protocols: is ${redact(url)} the server's WebSocket endpoint?`);
    }
    case 'no-subprotocol':
      return new SetupError(`the server chose no ${SUBPROTOCOL} subprotocol: not a Mooring server?`);
    case 'closed':
      if (a.code === 1006 && !a.frames.length) return new SetupError(`${label}: the server dropped the connection after auth without a close frame: is ${redact(url)} a Mooring server?`);
      return new SetupError(`${label} was refused (${closeText(a.code, a.reason)})${a.code === 4401 ? ': is it a token of this server (e.g. from its tokens file)?' : a.code === 4419 ? ': the token has expired; create a new one' : ''}`);
    case 'timeout':
      if (!a.opened) return new SetupError(`the upgrade at ${redact(url)} did not complete within ${timeoutMs} ms: is it a WebSocket endpoint?`);
      if (a.protocol !== SUBPROTOCOL) return new SetupError(`the server chose no ${SUBPROTOCOL} subprotocol and did not answer auth: not a Mooring server?`);
      return new SetupError(`${label}: no "authenticated" within ${timeoutMs} ms after auth${a.frames.length ? ` (got ${JSON.stringify(a.frames[0])})` : ''}: is it a Mooring server?`);
    case 'error':
      return new SetupError(`the upgrade at ${redact(url)} failed: ${a.message}`);
  }
}

/** The params the suite adapts every timing to; without them nothing can be graded. */
function paramsProblem(m: AuthenticatedMessage): string | undefined {
  const p = m.params as unknown as Record<string, unknown> | undefined;
  if (!p || typeof p !== 'object') return 'no params';
  const num = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0;
  for (const k of ['heartbeatIntervalMs', 'heartbeatTimeoutMs', 'authTimeoutMs', 'requestTimeoutMs', 'maxPayloadBytes', 'maxSubscriptions', 'maxBufferedBytes']) {
    if (!num(p[k])) return `params.${k} is ${JSON.stringify(p[k])}`;
  }
  if (typeof p.historySize !== 'number') return `params.historySize is ${JSON.stringify(p.historySize)}`;
  const r = p.rateLimit as Record<string, unknown> | undefined;
  if (!r || !num(r.messages) || !num(r.windowMs)) return `params.rateLimit is ${JSON.stringify(p.rateLimit)}`;
  return undefined;
}

/**
 * The handshake with the first token: finds how to connect (adapting to a server that breaks VER-2
 * or SEC-1 but speaks Mooring) and returns its `authenticated`.
 */
export async function firstContact(url: string, first: SourcedToken, timeoutMs: number, base: Adapt = {}): Promise<{ adapt: Adapt; msg: AuthenticatedMessage }> {
  const origin = new URL(url.replace(/^ws/, 'http')).origin;
  let a = await attempt(url, base, first.token, timeoutMs);
  let adapt: Adapt = { ...base };
  // VER-2: a server that accepts without selecting mooring.v1 but speaks it is graded by ver.select.
  if (a.kind === 'no-subprotocol') {
    adapt = { ...base, noSubprotocol: true };
    const b = await attempt(url, adapt, first.token, timeoutMs);
    if (b.kind !== 'authenticated') throw refusal(b.kind === 'http' || b.kind === 'error' ? b : { kind: 'no-subprotocol' }, url, first.label, timeoutMs);
    a = b;
  }
  // SEC-1: a server that refuses a handshake without Origin is graded by sec.origin.
  if (a.kind === 'http' && a.status === 403) {
    adapt = { ...adapt, origin };
    let b = await attempt(url, adapt, first.token, timeoutMs);
    if (b.kind === 'no-subprotocol') {
      adapt = { ...adapt, noSubprotocol: true };
      b = await attempt(url, adapt, first.token, timeoutMs);
      if (b.kind !== 'authenticated') throw refusal({ kind: 'no-subprotocol' }, url, first.label, timeoutMs);
    }
    a = b;
  }
  if (a.kind !== 'authenticated') throw refusal(a, url, first.label, timeoutMs);
  const bad = paramsProblem(a.msg);
  if (bad) throw new PreflightViolation('AUTH-5', `the server's "authenticated" has ${bad}: AUTH-5 requires the session params, and the suite adapts every timing to them, so no other case can run`);
  return { adapt, msg: a.msg };
}

/** Authenticates one more token; throws a SetupError naming where the token came from. */
export async function checkToken(url: string, adapt: Adapt, t: SourcedToken, timeoutMs: number): Promise<AuthenticatedMessage> {
  const a = await attempt(url, adapt, t.token, timeoutMs);
  if (a.kind !== 'authenticated') throw refusal(a, url, t.label, timeoutMs);
  return a.msg;
}

/** Tokens of one user twice: the cases that need two users (or a lane of its own) would collide. */
export function checkDistinctUsers(list: { label: string; userId: string }[]): void {
  const seen = new Map<string, string>();
  for (const t of list) {
    const before = seen.get(t.userId);
    if (before) throw new SetupError(`${before} and ${t.label} belong to the same user "${t.userId}": give tokens of distinct users`);
    seen.set(t.userId, t.label);
  }
}

/**
 * The conformance profile (CONF-1..3): each action exists. An answer `unknown_action` is a setup
 * error (the server runs without its conformance profile); any other answer, right or wrong, is
 * left to the CONF cases to grade.
 */
export async function checkProfile(url: string, adapt: Adapt, t: SourcedToken, channel: string, timeoutMs: number): Promise<number> {
  const ws = new WebSocket(url, adapt.noSubprotocol ? [] : [SUBPROTOCOL], { perMessageDeflate: false, handshakeTimeout: timeoutMs, origin: adapt.origin, ca: adapt.ca });
  ws.on('error', () => {});
  const answers = new Map<string, { success: boolean; error?: { code?: string } }>();
  const actions: [string, unknown][] = [['echo', { preflight: true }], ['publish', { channel, data: 'preflight' }], ['sleep', { ms: 1 }]];
  try {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      ws.on('open', () => ws.send(JSON.stringify({ type: 'auth', token: t.token })));
      ws.on('close', () => {
        clearTimeout(timer);
        resolve();
      });
      ws.on('message', (d) => {
        let m: { type?: string; requestId?: string; success?: boolean; error?: { code?: string } };
        try {
          m = JSON.parse(d.toString());
        } catch {
          return;
        }
        if (m.type === 'authenticated') for (const [action, payload] of actions) ws.send(JSON.stringify({ type: 'request', id: `preflight-${action}`, action, payload }));
        if (m.type === 'response' && typeof m.requestId === 'string') {
          answers.set(m.requestId.replace(/^preflight-/, ''), { success: !!m.success, error: m.error });
          if (answers.size === actions.length) {
            clearTimeout(timer);
            resolve();
          }
        }
      });
    });
  } finally {
    ws.terminate();
  }
  const missing = actions.map(([a]) => a).filter((a) => answers.get(a)?.error?.code === 'unknown_action');
  if (missing.length) {
    throw new SetupError(`the server offers no ${missing.map((a) => `"${a}"`).join(', ')} action (unknown_action): start it with the conformance profile (echo, publish, sleep; CONF-1..3), e.g. mooring serve without --no-test-actions`);
  }
  return actions.length;
}
