/**
 * Orchestrator ↔ child-process calls over the Node IPC channel: `{ id, cmd, args }` out,
 * `{ id, ok, result | error }` back. Children also push unsolicited `{ event, ... }` messages
 * (the numbered stream's positions, storm samples) that the parent reads with `onEvent`.
 */
import type { ChildProcess } from 'node:child_process';

export type Handlers = Record<string, (args: any) => unknown>;

interface Reply { id: number; ok: boolean; result?: unknown; error?: string }

/** In a child: answer calls from the parent with `handlers`. */
export function serveRpc(handlers: Handlers): void {
  process.on('message', (msg: { id?: number; cmd?: string; args?: unknown }) => {
    if (typeof msg?.id !== 'number' || typeof msg.cmd !== 'string') return;
    const h = handlers[msg.cmd];
    const reply = (r: Omit<Reply, 'id'>) => process.send?.({ id: msg.id, ...r });
    if (!h) return reply({ ok: false, error: `unknown command ${msg.cmd}` });
    Promise.resolve()
      .then(() => h(msg.args))
      .then((result) => reply({ ok: true, result }), (err: Error) => reply({ ok: false, error: err?.stack ?? String(err) }));
  });
}

/** In a child: tell the parent something without being asked. */
export function emit(event: string, data: Record<string, unknown> = {}): void {
  process.send?.({ event, ...data });
}

export class RpcClient {
  private next = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private readonly listeners = new Set<(ev: any) => void>();

  constructor(readonly child: ChildProcess, readonly name: string) {
    child.on('message', (msg: any) => {
      if (typeof msg?.id === 'number') {
        const p = this.pending.get(msg.id);
        if (!p) return;
        this.pending.delete(msg.id);
        if (msg.ok) p.resolve(msg.result);
        else p.reject(new Error(`${name}: ${msg.error}`));
      } else if (typeof msg?.event === 'string') {
        for (const l of this.listeners) l(msg);
      }
    });
    child.on('exit', (code, signal) => {
      for (const p of this.pending.values()) p.reject(new Error(`${name} exited (${signal ?? code}) during a call`));
      this.pending.clear();
    });
  }

  call<T = any>(cmd: string, args: unknown = {}): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, cmd, args }, (err) => {
        if (err) {
          this.pending.delete(id);
          reject(err);
        }
      });
    });
  }

  onEvent(fn: (ev: any) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
