/**
 * The fuzzer's arbitraries follow the committed schema: what they call valid passes ajv, what they call
 * invalid fails it (ERR-1, ERR-2), for every client message type the schema defines.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseClientFrame } from '../../../schemas/v1/index.js';
import { clientTypeNames, mutatedFrame, notAMessage, notJson, validMessage } from '../../fuzz/schema-arb.js';

describe('schema-derived arbitraries', () => {
  it('cover every client message type of the schema', () => {
    expect(clientTypeNames.sort()).toEqual(['auth', 'ping', 'request', 'subscribe', 'unsubscribe']);
  });

  for (const type of clientTypeNames) {
    it(`ERR-2: valid ${type} messages pass the schema`, () => {
      fc.assert(fc.property(validMessage(type), (m) => parseClientFrame(JSON.stringify(m)).kind === 'message'), { numRuns: 300, seed: 1 });
    });
    it(`ERR-2, VER-7: mutated ${type} frames get the verdict the mutation implies`, () => {
      fc.assert(fc.property(mutatedFrame(type), (f) => {
        const kind = parseClientFrame(f.text).kind;
        expect(kind, `${f.how}: ${f.text.slice(0, 200)}`).toBe(f.verdict === 'valid' ? 'message' : f.verdict);
      }), { numRuns: 500, seed: 1 });
    });
  }

  it('ERR-1, ERR-2: non-JSON text and JSON that is not a message get invalid_json and invalid_message', () => {
    fc.assert(fc.property(notJson, (f) => parseClientFrame(f.text).kind === 'invalid_json'), { numRuns: 300, seed: 1 });
    fc.assert(fc.property(notAMessage, (f) => parseClientFrame(f.text).kind === 'invalid_message'), { numRuns: 300, seed: 1 });
  });
});
