/**
 * Threat (to availability, by the protocol's own defaults): a client with 100 channels restores them
 * after every reconnect; under revision 1.1 every subscribe counted against 60 frames per 10 s and
 * the client was closed with 4429 right after every login (RATE-4, PARAM-1). Real reference client,
 * real server on the recommended defaults, a TCP proxy that drops the connection.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_PARAMS, paramContradictions } from '../../../../schemas/v1/index.js';
import { Observed, start, TcpProxy, useCleanup } from '../../../client/test/helpers.js';

useCleanup();

const CHANNELS = 100;

async function scenario(restoreAllowance: number | undefined) {
  const server = await start({ heartbeatIntervalMs: DEFAULT_PARAMS.heartbeatIntervalMs, heartbeatTimeoutMs: DEFAULT_PARAMS.heartbeatTimeoutMs, restoreAllowance });
  expect(server.params.rateLimit).toEqual({ messages: 60, windowMs: 10_000 });
  expect(server.params.maxSubscriptions).toBe(CHANNELS);
  const proxy = await TcpProxy.start(server.port);
  const token = await server.createToken('alice');
  const o = new Observed({ url: proxy.url(), token: () => token });
  for (let i = 0; i < CHANNELS; i++) o.subscribe(`ch-${i}`);
  o.client.connect();
  return { server, proxy, o };
}

describe('security: restoring 100 channels on the recommended defaults', () => {
  it('RATE-4, PARAM-1: a 100-channel client that reconnects twice within one rate window is never closed 4429', async () => {
    const { server, proxy, o } = await scenario(undefined);
    expect(server.params.restoreAllowance).toBe(CHANNELS);
    expect(paramContradictions(server.params)).toEqual([]);
    for (let round = 1; round <= 3; round++) {
      await o.sessions(round);
      await o.nth('subscribed', round * CHANNELS);
      if (round < 3) proxy.dropAll();
    }
    const rateLimited = o.count('closed', (e) => e.type === 'closed' && e.code === 4429);
    console.log(`[figures] 100-channel client, 3 logins within one 10 s window (restoreAllowance ${server.params.restoreAllowance}): ${rateLimited} closes 4429, ${o.count('subscribed')} subscribed`);
    expect(rateLimited).toBe(0);
    expect(o.client.diagnostics().state).toBe('authenticated');
  });

  it('RATE-4: without the allowance (revision 1.1 behaviour) the same client is closed 4429 right after its first login', async () => {
    const { o } = await scenario(0);
    const closed = await o.nth('closed', 1);
    console.log(`[figures] 100-channel client without restoreAllowance: first close ${closed.type === 'closed' ? closed.code : '?'} after ${o.count('subscribed')} subscribed`);
    expect(closed).toMatchObject({ code: 4429 });
  });
});
