/**
 * Control of a server process for the shutdown cases (SHUT-1..4): start it from a shell command,
 * wait until it accepts WebSocket upgrades, send it signals, restart it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';

export interface ServerControl {
  /** The WebSocket URL of the controlled server. */
  url: string;
  /** Tokens of distinct users on that server (two at least; more make the storm bigger). */
  tokens: string[];
  /** What is started, for the report. */
  describe: string;
  running(): boolean;
  /** Starts the server (if not running) and waits until it accepts TCP connections. */
  start(): Promise<void>;
  /** Sends a signal to the server's process group. */
  signal(sig: NodeJS.Signals): void;
  /** Waits for the process to exit; the exit code or signal name, or undefined on timeout. */
  waitExit(timeoutMs: number): Promise<string | undefined>;
  /** Stops the server (SIGTERM, then SIGKILL after 3 s). */
  stop(): Promise<void>;
  /** The last lines the process wrote to stderr (for failures). */
  output(): string;
}

export interface ProcessServerOptions {
  /** A shell command that starts the server in the foreground. */
  command: string;
  url: string;
  tokens: string[];
  /** How long `start` waits for the port to accept connections. @default 15_000 */
  readyTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Resolves once `host:port` accepts a TCP connection, or rejects after `timeoutMs`. */
export async function waitForPort(host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; Date.now() < deadline && i < 10_000; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, host);
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
}

/** Whether any process of the group led by `pid` is still alive. */
function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function processServer(opts: ProcessServerOptions): ServerControl {
  let child: ChildProcess | undefined;
  let exited: Promise<string> | undefined;
  let tail = '';
  const u = new URL(opts.url);
  const host = u.hostname;
  const port = Number(u.port || 80);
  const keep = (d: Buffer) => {
    tail = (tail + d.toString()).slice(-4000);
  };
  const ctl: ServerControl = {
    url: opts.url,
    tokens: opts.tokens,
    describe: opts.command,
    running: () => !!child?.pid && groupAlive(child.pid),
    async start() {
      if (ctl.running()) return;
      // detached: the server gets its own process group, so signals reach it even behind `sh -c`.
      child = spawn(opts.command, { shell: true, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env }, cwd: opts.cwd });
      child.stdout!.on('data', keep);
      child.stderr!.on('data', keep);
      const c = child;
      exited = new Promise((resolve) => c.once('exit', (code, sig) => resolve(sig ?? String(code))));
      await Promise.race([
        waitForPort(host, port, opts.readyTimeoutMs ?? 15_000),
        exited.then((how) => {
          throw new Error(`the server command exited (${how}) before listening: ${tail.slice(-500)}`);
        }),
      ]);
    },
    signal(sig) {
      if (!child?.pid || !ctl.running()) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        if (child.exitCode === null) child.kill(sig);
      }
    },
    async waitExit(timeoutMs) {
      if (!exited || !child?.pid) return 'not started';
      const deadline = Date.now() + timeoutMs;
      const how = await Promise.race([exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), timeoutMs))]);
      if (how === undefined) return undefined;
      // The command may run the server under a shell: wait until the whole process group is gone.
      while (groupAlive(child.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      return groupAlive(child.pid) ? undefined : how;
    },
    async stop() {
      if (!ctl.running()) return;
      ctl.signal('SIGTERM');
      if ((await ctl.waitExit(3000)) === undefined) {
        ctl.signal('SIGKILL');
        await ctl.waitExit(3000);
      }
    },
    output: () => tail,
  };
  return ctl;
}
