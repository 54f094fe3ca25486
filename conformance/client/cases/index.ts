/** Every client case, in run order (the meta cases last). */
import type { ClientCaseDef } from '../context.js';
import { heartbeatCases } from './heartbeat.js';
import { metaCases } from './meta.js';
import { reconnectCases } from './reconnect.js';
import { requestCases } from './requests.js';
import { robustCases } from './robust.js';
import { sessionCases } from './session.js';

export function clientCases(): ClientCaseDef[] {
  return [...sessionCases, ...requestCases, ...heartbeatCases, ...reconnectCases, ...robustCases, ...metaCases];
}
