/**
 * What a client case works with: a fresh scripted server, drivers (the program under test, one
 * process each), the advertised params and client settings, findings graded by the rule's level, and
 * a transcript for the reports.
 */
import type { SessionParams } from '../../schemas/v1/messages.js';
import { ruleInfo } from '../rules.js';
import type { Finding, TranscriptEntry } from '../types.js';
import type { DriverSettings } from './contract.js';
import { DriverProc } from './driver-proc.js';
import { ScriptServer } from './server.js';

export class ClientSkip extends Error {}
export class ClientInconclusive extends Error {}

export interface ClientCaseDef {
  id: string;
  title: string;
  rules: string[];
  /** Time limit of the case in ms (before --timeout-scale). @default 15000 */
  timeoutMs?: number;
  /** Session params this case advertises instead of the harness's defaults. */
  params?: Partial<SessionParams>;
  run(ctx: ClientCaseContext): Promise<void>;
}

export interface ClientEnv {
  cmd: string;
  params: SessionParams;
  settings: DriverSettings;
  scale: number;
  /** Findings of the rules checked on every connection, for the meta cases (run-wide). */
  observed: Finding[];
}

export class ClientCaseContext {
  readonly findings: Finding[] = [];
  readonly notes: string[] = [];
  readonly transcript: TranscriptEntry[] = [];
  readonly drivers: DriverProc[] = [];
  readonly server: ScriptServer;
  readonly started = Date.now();
  readonly params: SessionParams;

  constructor(readonly env: ClientEnv, readonly caseId: string, readonly rules: string[], params: Partial<SessionParams> = {}) {
    this.params = { ...env.params, ...params };
    this.server = new ScriptServer(this.params, (conn, dir, data) => this.log(conn, dir, data), (rule, message) => {
      this.finding(rule, message);
      env.observed.push({ rule, grade: gradeOf(rule), message: `${caseId}: ${message}` });
    });
  }

  get settings(): DriverSettings {
    return this.env.settings;
  }

  /** Scales a duration by --timeout-scale. */
  ms(n: number): number {
    return Math.round(n * this.env.scale);
  }

  /** Tolerance for timings measured over loopback between two processes (scheduling, process start). */
  get slack(): number {
    return this.ms(300);
  }

  log(conn: string, dir: 'in' | 'out' | 'event', data: string): void {
    if (this.transcript.length < 600) this.transcript.push({ t: Date.now() - this.started, conn, dir, kind: dir === 'event' ? 'event' : 'frame', data: data.slice(0, 600) });
  }

  finding(rule: string, message: string): void {
    if (this.findings.some((f) => f.rule === rule && f.message === message)) return;
    this.findings.push({ rule, grade: gradeOf(rule), message });
  }

  info(rule: string, message: string): void {
    this.findings.push({ rule, grade: 'info', message });
  }

  note(s: string): void {
    this.notes.push(s);
  }

  inconclusive(why: string): never {
    throw new ClientInconclusive(why);
  }

  skip(why: string): never {
    throw new ClientSkip(why);
  }

  /** Starts the program under test and waits for its `ready` line. */
  async driver(label = `d${this.drivers.length + 1}`): Promise<DriverProc> {
    const d = new DriverProc(this.env.cmd, label, (c, dir, data) => this.log(c, dir, data));
    this.drivers.push(d);
    if (!(await d.waitReady(this.ms(15_000)))) {
      throw new Error(`the driver did not print its "ready" line within ${this.ms(15_000)} ms${d.exited ? ` (it exited with code ${d.exited.code})` : ''}${d.stderr ? `: ${d.stderr.slice(-300)}` : ''}`);
    }
    return d;
  }

  /** A driver connected to this case's server, and its first authenticated connection. */
  async connected(label?: string) {
    const d = await this.driver(label);
    const after = this.server.conns.length;
    await d.connect(this.server.url, this.settings);
    const c = await this.server.nextConn(this.ms(5_000), after);
    if (!c) throw new Error('the client did not open a connection within 5 s of the connect command');
    const auth = await c.waitMsg('auth', this.ms(3_000));
    if (!auth) throw new Error('the client sent no auth within 3 s of opening the connection');
    if (!c.authenticatedAt) await new Promise((r) => setTimeout(r, 20));
    return { d, c };
  }

  sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.drivers.map((d) => d.stop()));
    await this.server.stop();
  }
}

export function gradeOf(rule: string): Finding['grade'] {
  const level = ruleInfo(rule)?.level ?? 'MUST';
  return level === 'MUST' ? 'fail' : level === 'SHOULD' ? 'warn' : 'info';
}
