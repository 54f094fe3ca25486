/**
 * The Mooring client conformance harness (`mooring test-client`), exported with `mooring/conformance`'s
 * siblings: it grades any client program that speaks the driver contract (spec/client-driver.md).
 *
 *   const report = await runClientSuite({ cmd: 'node my-driver.js' });
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export { runClientSuite, clientRules, selectClientCases, HARNESS_PARAMS, HARNESS_SETTINGS, type ClientRunOptions } from './runner.js';
export { clientCases } from './cases/index.js';
export type { DriverCommand, DriverEvent, DriverSettings } from './contract.js';
export type { ClientCaseDef, ClientCaseContext } from './context.js';

/** A command line that runs a driver module next to this file: `node` on built JS, `node --import tsx` on TS sources. */
export function driverCommand(name: 'node' | 'chromium', extraArgs = ''): string {
  const js = fileURLToPath(new URL(`./drivers/${name}.js`, import.meta.url));
  const ts = fileURLToPath(new URL(`./drivers/${name}.ts`, import.meta.url));
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const node = q(process.execPath);
  const cmd = existsSync(js) ? `${node} ${q(js)}` : `${node} --import tsx ${q(ts)}`;
  return extraArgs ? `${cmd} ${extraArgs}` : cmd;
}
