/**
 * The client driver of the reference client in Node (spec/client-driver.md): JSON lines on stdin
 * (commands) and stdout (events). `mooring test-client` with no `--cmd` runs this program.
 *
 *   node dist/conformance/client/drivers/node.js
 */
import { createInterface } from 'node:readline';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MooringClient } from '../../../reference/client/index.js';
import { VERSION } from '../../version.js';
import type { DriverCommand, DriverEvent } from '../contract.js';
import { createDriver, type DriverHooks } from './driver-core.js';

export function runNodeDriver(hooks: DriverHooks = {}, name = 'mooring-reference-client (node)'): void {
  const emit = (e: DriverEvent) => process.stdout.write(`${JSON.stringify(e)}\n`);
  const driver = createDriver(MooringClient as never, emit, hooks);
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (!line.trim()) return;
    let cmd: DriverCommand;
    try {
      cmd = JSON.parse(line) as DriverCommand;
    } catch {
      emit({ event: 'log', message: `not JSON: ${line.slice(0, 80)}` });
      return;
    }
    driver.handle(cmd).then(
      () => {
        emit({ event: 'ack', id: cmd.id });
        if (cmd.cmd === 'exit') setTimeout(() => process.exit(0), 50);
      },
      (e: Error) => emit({ event: 'ack', id: cmd.id, error: e.message }),
    );
  });
  rl.on('close', () => process.exit(0));
  emit({ event: 'ready', name, version: VERSION, features: ['liveness'] });
}

if (process.argv[1] && pathToFileURL(resolve(process.argv[1])).href === import.meta.url) runNodeDriver();
