import { describe, expect, it } from 'vitest';
import { DEFAULT_PARAMS } from './defaults.js';
import { paramContradictions } from './params-check.js';

describe('PARAM-1: advertised parameters do not contradict each other', () => {
  it('PARAM-1: the recommended defaults are consistent', () => {
    expect(paramContradictions(DEFAULT_PARAMS)).toEqual([]);
  });

  it('PARAM-1: the revision 1.1 defaults (no restoreAllowance) lock out a client with maxSubscriptions channels', () => {
    const { restoreAllowance: _r, ...v11 } = DEFAULT_PARAMS;
    expect(paramContradictions(v11)).toEqual([expect.stringContaining('restoring maxSubscriptions (100) channels')]);
  });

  it('PARAM-1: each condition is reported', () => {
    expect(paramContradictions({ ...DEFAULT_PARAMS, restoreAllowance: 10 })).toEqual([expect.stringContaining('restoreAllowance (10)')]);
    expect(paramContradictions({ ...DEFAULT_PARAMS, heartbeatIntervalMs: 100 })).toEqual([expect.stringContaining('pings')]);
    expect(paramContradictions({ ...DEFAULT_PARAMS, maxBufferedBytes: 100_000 })).toEqual([expect.stringContaining('maxBufferedBytes')]);
    expect(paramContradictions({ ...DEFAULT_PARAMS, historyBytes: 1_000 })).toEqual([expect.stringContaining('historyBytes')]);
  });
});
