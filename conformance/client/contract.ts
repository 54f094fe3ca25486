/**
 * The client driver contract (spec/client-driver.md) as types: the JSON lines the harness writes to
 * the program under test (commands) and the lines it reads back (events). Shared by the harness and
 * by the drivers that ship with the package.
 */

/** Client settings that are not session parameters (the harness picks short ones, RECON-1, RECON-2). */
export interface DriverSettings {
  backoffBaseMs: number;
  backoffCapMs: number;
  stableAfterMs: number;
}

export type DriverCommand =
  | { id: number; cmd: 'connect'; url: string; settings: DriverSettings }
  | { id: number; cmd: 'token'; fetch: number; token?: string; error?: string }
  | { id: number; cmd: 'subscribe'; channel: string }
  | { id: number; cmd: 'unsubscribe'; channel: string }
  | { id: number; cmd: 'request'; ref: string; action: string; payload?: unknown; timeoutMs?: number }
  | { id: number; cmd: 'close' }
  | { id: number; cmd: 'liveness' }
  | { id: number; cmd: 'visibility'; state: 'hidden' | 'visible' }
  | { id: number; cmd: 'exit' };

export type DriverEvent =
  | { event: 'ready'; name: string; version?: string; features?: string[] }
  | { event: 'ack'; id: number; error?: string }
  | { event: 'token_request'; fetch: number; reason?: string }
  | {
      event: 'state';
      state: string;
      code?: number;
      reason?: string;
      closeClass?: string;
      willRetry?: boolean;
      delayMs?: number;
    }
  | { event: 'push'; channel: string; data: unknown; position: { epoch: string; offset: number }; replay?: boolean }
  | { event: 'gap'; channel: string; reason?: string }
  | { event: 'response'; ref: string; ok: true; data?: unknown }
  | { event: 'response'; ref: string; ok: false; code: string; message?: string }
  | { event: 'server_error'; code: string; message?: string }
  | { event: 'log'; message: string };

/** Optional commands a driver may not support; it answers them with `ack` and `error: "unsupported"`. */
export const OPTIONAL_COMMANDS = ['liveness', 'visibility'] as const;
