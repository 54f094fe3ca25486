/** Facts about the machine every result carries: cores, CPU model, Node version, load. */
import { availableParallelism, cpus, loadavg, totalmem, release } from 'node:os';
import { LOAD_CORE, PINNED, SERVER_CORE, hardFdLimit } from './proc.js';

export interface MachineFacts {
  cores: number;
  cpuModel: string;
  node: string;
  kernel: string;
  memGiB: number;
  loadavg1m: number;
  pinned: boolean;
  serverCore: number;
  loadCore: number;
  fdLimit: number;
  at: string;
}

export function machineFacts(): MachineFacts {
  return {
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    kernel: release(),
    memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    loadavg1m: Math.round(loadavg()[0]! * 100) / 100,
    pinned: PINNED,
    serverCore: SERVER_CORE,
    loadCore: LOAD_CORE,
    fdLimit: hardFdLimit(),
    at: new Date().toISOString(),
  };
}

export function formatMachine(m: MachineFacts): string {
  return `${m.cores} cores, ${m.cpuModel}, Node ${m.node}, load ${m.loadavg1m} at start; ` +
    (m.pinned ? `server on core ${m.serverCore}, load generator on core ${m.loadCore}` : 'processes NOT pinned (no taskset or 1 core)') +
    `; fd limit ${m.fdLimit}`;
}
