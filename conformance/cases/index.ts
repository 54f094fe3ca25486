/** Every case of the server suite, grouped by spec area, in run order within each phase. */
import type { CaseDef } from '../types.js';
import { versionCases } from './version.js';
import { authCases } from './auth.js';
import { requestCases } from './requests.js';
import { pubsubCases } from './pubsub.js';
import { heartbeatCases } from './heartbeat.js';
import { sessionCases } from './sessions.js';
import { limitCases } from './limits.js';
import { errorCases } from './errors.js';
import { securityCases } from './security.js';
import { profileCases } from './profile.js';
import { rateCases } from './rate.js';
import { shutdownCases } from './shutdown.js';
import { metaCases } from './meta.js';
import { restoreCases } from './restore.js';

export function allCases(): CaseDef[] {
  return [
    ...profileCases,
    ...versionCases,
    ...authCases,
    ...requestCases,
    ...pubsubCases,
    ...heartbeatCases,
    ...sessionCases,
    ...limitCases,
    ...errorCases,
    ...securityCases,
    ...restoreCases,
    ...rateCases,
    ...shutdownCases,
    ...metaCases,
  ];
}
