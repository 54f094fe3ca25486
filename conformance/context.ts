/**
 * What a case sees: the target and its advertised params, the tokens, the wire toolkit (connections
 * recorded into the case transcript), the fault proxy, and the graded checks (`check`, `require`,
 * `expectClose`, `skip`). Everything a case opens is closed by the runner when the case ends.
 */
import type { SessionParams } from '../schemas/v1/index.js';
import { Conn, HandshakeRefused, closeReasonProblem, type ConnectOptions, type WireHost } from './wire/conn.js';
import type { RateGovernor } from './wire/governor.js';
import { FaultProxy, type ProxyRule } from './proxy/index.js';
import { ruleInfo } from './rules.js';
import type { CloseSeen, Finding, TranscriptEntry } from './types.js';
import type { ServerControl } from './server-control.js';

/** Shared across the run: what the meta cases (ERR-5, VER-5, ERR-3) judge at the end. */
export interface RunState {
  /** Text and binary frames received from the server during the run. */
  frames: number;
  closes: (CloseSeen & { caseId: string; expected: boolean })[];
  errorCodes: Map<string, string[]>;
  violations: { caseId: string; rule: string; message: string }[];
}

export interface Capabilities {
  /** Mints a token for a user with a TTL (embedded mode: the reference server's createToken). */
  mintToken?: (userId: string, ttlMs: number) => Promise<string>;
  /** A token that expires soon (--expiring-token). */
  expiringToken?: string;
  /** An action the server offers whose handler fails (REQ-7). */
  failingAction?: string;
  /** Controls a server process (--server-cmd, or the reference CLI in embedded mode). */
  serverControl?: ServerControl;
  /** The server's per-IP connection cap when known (LIMIT-2). */
  maxConnectionsPerIp?: number;
  /** The server runs on this machine. */
  loopback: boolean;
  /** More tokens (distinct users) for the shutdown and storm cases. */
  extraTokens: string[];
  /** The operator allows tokens in the URL (AUTH-7 is then skipped). */
  tokenInUrlAllowed?: boolean;
}

export interface SuiteEnv {
  url: string;
  httpUrl: string;
  params: SessionParams;
  tokens: string[];
  users: string[];
  scale: number;
  runId: string;
  governor: RateGovernor;
  state: RunState;
  caps: Capabilities;
  userOfToken: Map<string, string>;
  /**
   * How the run's connections adapt to a server that refuses the suite's default handshake, so the
   * other rules can still be judged (the cases of VER-2 and SEC-1 pass their options explicitly).
   */
  adapt?: { noSubprotocol?: boolean; origin?: string; ca?: string | Buffer };
}

export class SkipCase extends Error {}
/** The case ran but cannot decide; the message says why (Practice 10: never a guess). */
export class InconclusiveCase extends Error {}
export class AbortCase extends Error {}

export class CaseContext implements WireHost {
  readonly transcript: TranscriptEntry[] = [];
  readonly findings: Finding[] = [];
  readonly notes: string[] = [];
  readonly closes: CloseSeen[] = [];
  readonly expectedCloses: number[] = [];
  private conns: Conn[] = [];
  private proxies: FaultProxy[] = [];
  private counter = 0;
  private t0 = Date.now();
  /** The rule charged with unexpected errors (set by `using`). */
  currentRule: string;
  /** What the case waits for now, when known (progress lines of long cases). */
  waitingFor: string | undefined;
  readonly waitMs: number;

  constructor(readonly env: SuiteEnv, readonly caseId: string, rules: string[]) {
    this.currentRule = rules[0] ?? 'ERR-4';
    this.waitMs = Math.round(Math.max(3000, env.params.requestTimeoutMs) * env.scale);
  }

  get params(): SessionParams {
    return this.env.params;
  }
  get url(): string {
    return this.env.url;
  }
  get httpUrl(): string {
    return this.env.httpUrl;
  }
  get tokens(): string[] {
    return this.env.tokens;
  }
  get users(): string[] {
    return this.env.users;
  }

  /** A duration scaled by --timeout-scale. */
  ms(x: number): number {
    return Math.round(x * this.env.scale);
  }

  /** A tolerance for server timers: 20 % of the duration, at least 300 ms, scaled. */
  tolerance(durationMs: number): number {
    return this.ms(Math.max(300, durationMs * 0.2));
  }

  // --- WireHost --------------------------------------------------------------------------------

  elapsed(): number {
    return Date.now() - this.t0;
  }
  record(conn: string, dir: 'out' | 'in' | 'event', kind: string, data?: string): void {
    if (dir === 'in' && (kind === 'text' || kind === 'binary')) this.env.state.frames++;
    if (this.transcript.length < 2000) this.transcript.push({ t: this.elapsed(), conn, dir, kind, data });
    else if (this.transcript.length === 2000) this.transcript.push({ t: this.elapsed(), conn: '-', dir: 'event', kind: 'truncated', data: 'transcript truncated at 2000 entries' });
  }
  violation(rule: string, message: string): void {
    this.env.state.violations.push({ caseId: this.caseId, rule, message });
    this.finding(rule, message);
  }
  closeSeen(c: CloseSeen): void {
    this.closes.push(c);
    this.env.state.closes.push({ ...c, caseId: this.caseId, expected: this.expectedCloses.includes(c.code) });
  }
  errorCodeSeen(code: string): void {
    const list = this.env.state.errorCodes.get(code) ?? [];
    if (!list.includes(this.caseId)) list.push(this.caseId);
    this.env.state.errorCodes.set(code, list);
  }
  async acquire(user: string | undefined): Promise<void> {
    if (!user) return;
    const before = this.waitingFor;
    this.waitingFor = `the rate budget of user ${user} (${this.params.rateLimit.messages} per ${this.params.rateLimit.windowMs} ms)`;
    try {
      await this.env.governor.acquire(user);
    } finally {
      this.waitingFor = before;
    }
  }
  waiting(what: string | undefined): void {
    this.waitingFor = what;
  }
  userOfToken(token: string): string | undefined {
    return this.env.userOfToken.get(token);
  }

  // --- connections ------------------------------------------------------------------------------

  /**
   * Opens a connection (not authenticated). Throws HandshakeRefused when the upgrade is refused.
   * Its first `auth` is never held by the rate governor (only frames after authentication count), but
   * paced frames the case sends meanwhile on other connections may be: authenticate soon after
   * opening (`session` does), or the server's AUTH-2 deadline closes the connection, rightly.
   */
  async connect(opts: ConnectOptions = {}): Promise<Conn> {
    const adapt = this.env.adapt ?? {};
    const o: ConnectOptions = {
      ...opts,
      protocols: opts.protocols === undefined && adapt.noSubprotocol ? null : opts.protocols,
      origin: opts.origin === undefined ? adapt.origin : opts.origin,
      ca: opts.ca ?? adapt.ca,
    };
    const c = new Conn(this, opts.url ?? this.url, { ...o, label: opts.label ?? `c${++this.counter}` });
    this.conns.push(c);
    await c.opened;
    return c;
  }

  /** Attempts a handshake: the HTTP status (101 when accepted, 0 when the TCP connect failed). */
  async tryConnect(opts: ConnectOptions = {}): Promise<{ status: number; conn?: Conn; body?: string }> {
    try {
      const conn = await this.connect(opts);
      return { status: 101, conn };
    } catch (e) {
      if (e instanceof HandshakeRefused) return { status: e.status, body: e.body };
      throw e;
    }
  }

  /** A connection authenticated as user `i` (0 or 1). */
  async session(i = 0, opts: ConnectOptions = {}): Promise<Conn> {
    const c = await this.connect(opts);
    await c.auth(this.tokens[i]!);
    return c;
  }

  /** A fault proxy to the server under test; its connections and rules end with the case. */
  async proxy(rules: ProxyRule[] = [], targetUrl = this.url): Promise<FaultProxy & { url: string }> {
    const u = new URL(targetUrl);
    // The proxy reads WebSocket frames to inject its faults; TLS hides them.
    if (u.protocol === 'wss:') this.skip('needs the fault proxy, which reads WebSocket frames: TLS hides them (run it against ws://)');
    const p = await FaultProxy.start({
      target: { host: u.hostname, port: Number(u.port || (u.protocol === 'wss:' ? 443 : 80)) },
      rules,
      onEvent: (e) => this.record('proxy', 'event', 'fault', e),
    });
    this.proxies.push(p);
    return Object.assign(p, { url: p.urlFor(targetUrl) });
  }

  /** A channel name unique to this run and case. */
  channel(tag = 'ch'): string {
    return `conf.${this.env.runId}.${this.caseId}.${tag}`.replace(/[^A-Za-z0-9_.:/-]/g, '_').slice(0, 128);
  }

  sleep(ms: number): Promise<void> {
    this.waitingFor = `a pause of ${ms} ms`;
    return new Promise((r) =>
      setTimeout(() => {
        this.waitingFor = undefined;
        r();
      }, ms),
    );
  }

  // --- grading ----------------------------------------------------------------------------------

  /** Records that `rule` is broken; graded fail for a MUST and warn for a SHOULD. */
  finding(rule: string, message: string): void {
    const level = ruleInfo(rule)?.level ?? 'MUST';
    const grade = level === 'MUST' ? 'fail' : 'warn';
    if (!this.findings.some((f) => f.rule === rule && f.message === message)) this.findings.push({ rule, grade, message });
    this.record('-', 'event', grade, `${rule}: ${message}`);
  }

  /** Records something observed that grades neither pass nor fail. */
  info(message: string, rule = this.currentRule): void {
    this.findings.push({ rule, grade: 'info', message });
  }

  note(message: string): void {
    this.notes.push(message);
  }

  /** Soft check: records a finding when `ok` is false and goes on. */
  check(rule: string, ok: boolean, message: string): boolean {
    if (!ok) this.finding(rule, message);
    return ok;
  }

  /** Hard check: records a finding and ends the case when `ok` is false. */
  require(rule: string, ok: unknown, message: string): void {
    if (!ok) {
      this.finding(rule, message);
      throw new AbortCase(message);
    }
  }

  skip(reason: string): never {
    throw new SkipCase(reason);
  }

  /**
   * Ends the case as `inconclusive`: its trigger was pre-empted by another rule's legitimate close
   * (say a 4001 before the buffer filled) or absorbed by an intermediary. Never pass, never fail.
   */
  inconclusive(reason: string): never {
    throw new InconclusiveCase(reason);
  }

  /** Charges unexpected errors from here on to `rule`. */
  using(rule: string): void {
    this.currentRule = rule;
  }

  /**
   * Waits for `conn` to close and checks the code. `within` bounds the wait; a close frame is
   * required unless `allowNoFrame`.
   */
  async expectClose(conn: Conn, codes: number | number[], opts: { rule: string; withinMs?: number; what?: string; allowNoFrame?: boolean }): Promise<CloseSeen | undefined> {
    const list = Array.isArray(codes) ? codes : [codes];
    this.expectedCloses.push(...list);
    for (const c of this.env.state.closes) if (c.caseId === this.caseId && list.includes(c.code)) c.expected = true;
    const within = opts.withinMs ?? this.waitMs;
    const what = opts.what ?? `close ${list.join(' or ')}`;
    this.waitingFor = `${what} on ${conn.label} (${opts.rule}, up to ${within} ms)`;
    const c = await conn.waitClose(within);
    this.waitingFor = undefined;
    if (!c) {
      this.finding(opts.rule, `expected ${what}, but the connection was still open after ${within} ms`);
      return undefined;
    }
    if (!list.includes(c.code)) {
      if (c.code === 1006 && !opts.allowNoFrame) this.finding(opts.rule, `expected ${what}, but the connection ended without a close frame (1006)`);
      else if (!(c.code === 1006 && opts.allowNoFrame)) this.finding(opts.rule, `expected ${what}, got ${c.code}${c.reason ? ` "${c.reason}"` : ''}`);
    } else if (c.frame) {
      // The rule names the code and its reason (`4400 not_authenticated`): the reason is empty or that
      // name (ERR-6 grammar), charged to the rule as well.
      const bad = closeReasonProblem(c.code, Buffer.from(c.reason, 'utf8'));
      if (bad) this.finding(opts.rule, bad);
    }
    return c;
  }

  /** Checks that `conn` stays open for `ms`. */
  async expectOpen(conn: Conn, ms: number, rule: string, why: string): Promise<boolean> {
    this.waitingFor = `${conn.label} to stay open for ${ms} ms (${rule}: ${why})`;
    const c = await conn.waitClose(ms);
    this.waitingFor = undefined;
    if (c) this.finding(rule, `${why}: the connection closed with ${c.code}${c.reason ? ` "${c.reason}"` : ''}`);
    return !c;
  }

  /** Checks that the server still answers on `conn` (an echo round trip). */
  async expectAlive(conn: Conn, rule: string, why: string): Promise<boolean> {
    try {
      const r = await conn.request('echo', { alive: true });
      return this.check(rule, r.success, `${why}: echo failed`);
    } catch (e) {
      this.finding(rule, `${why}: ${(e as Error).message}`);
      return false;
    }
  }

  /** Closes every connection and proxy the case opened. */
  async cleanup(): Promise<void> {
    for (const c of this.conns) c.close();
    await Promise.all(this.conns.map((c) => c.waitClose(1000)));
    for (const c of this.conns) c.terminate();
    await Promise.all(this.proxies.map((p) => p.close().catch(() => {})));
  }
}
