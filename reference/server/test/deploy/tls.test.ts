/**
 * DEPLOY-8: wss:// and https:// on one port with a self-signed certificate made at test time; the
 * conformance suite (API and `mooring test --ca`) and the Node client trust it through a CA option.
 */
import { get } from 'node:https';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MooringClient } from '../../../client/index.js';
import { runSuite } from '../../../../conformance/runner.js';
import { startEmbedded } from '../../../../conformance/embedded.js';
import { run as mooringTest } from '../../../../cli/test.js';
import { parseServeArgs } from '../../../../cli/serve.js';
import { UsageError } from '../../../../cli/args.js';
import { selfSignedCert, type TestCert } from './certs.js';
import { start, useHarness } from '../helpers.js';

useHarness();
let cert: TestCert;
beforeAll(() => {
  cert = selfSignedCert();
});
afterAll(() => cert.cleanup());

function httpsStatus(url: string, ca?: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, { ca }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

/** Runs a CLI command in-process with its stdout and stderr captured, not printed. */
async function captured(f: () => Promise<number>): Promise<{ code: number; text: string }> {
  let text = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => ((text += String(c)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => ((text += String(c)), true));
  try {
    return { code: await f(), text };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

describe('TLS', () => {
  it('DEPLOY-8: serves wss:// and https:// on one port; the Node client trusts the certificate through `ca`', async () => {
    const s = await start({ tls: { cert: cert.cert, key: cert.key } });
    expect(s.url).toBe(`wss://127.0.0.1:${s.port}/ws`);
    expect(s.httpUrl).toBe(`https://127.0.0.1:${s.port}`);
    expect(await httpsStatus(`${s.httpUrl}/healthz`, cert.cert)).toBe(200);
    await expect(httpsStatus(`${s.httpUrl}/healthz`)).rejects.toThrow(/self[- ]signed/i);

    const token = await s.createToken('alice');
    const client = new MooringClient({ url: s.url, token: () => token, ca: cert.cert });
    const authed = new Promise<void>((resolve) => client.on('authenticated', () => resolve()));
    client.connect();
    await authed;
    expect(await client.request('echo', { over: 'tls' })).toEqual({ over: 'tls' });
    client.close();

    // Without the CA the client cannot connect: its one attempt fails and it gives up.
    const stranger = new MooringClient({ url: s.url, token: () => token, maxAttempts: 1 });
    const gaveUp = new Promise<{ attempts: number; lastCode: number }>((resolve) => stranger.on('gave_up', (e) => resolve(e)));
    stranger.connect();
    expect(await gaveUp).toMatchObject({ attempts: 1, lastCode: 1006 });
    stranger.close();
  });

  it('DEPLOY-8: mooring serve reads --tls-cert/--tls-key, both or neither', () => {
    expect(parseServeArgs(['--tls-cert', cert.certFile, '--tls-key', cert.keyFile]).tls).toEqual({ cert: cert.cert, key: cert.key });
    expect(() => parseServeArgs(['--tls-cert', cert.certFile])).toThrow(UsageError);
    expect(() => parseServeArgs(['--tls-cert', cert.certFile, '--tls-key', `${cert.dir}/missing.pem`])).toThrow(/--tls-key: cannot read .*ENOENT/);
  });

  it('DEPLOY-8: the conformance suite runs against wss:// with a CA (API and mooring test --ca)', async () => {
    const emb = await startEmbedded({ serverProcess: false, tls: { cert: cert.cert, key: cert.key } });
    try {
      expect(emb.url).toMatch(/^wss:\/\//);
      const report = await runSuite({
        url: emb.url, tokens: emb.tokens, caps: emb.caps, ca: cert.cert,
        select: ['CONF', 'AUTH-4', 'AUTH-5', 'REQ', 'SUB-8', 'SEC-1', 'HTTP', 'hb.idle-client', 'hb.blackhole'],
      });
      expect(report.setupError).toBeUndefined();
      const bad = report.cases.filter((c) => c.outcome === 'fail' || c.outcome === 'inconclusive');
      expect(bad.map((c) => `${c.id}: ${c.detail}`)).toEqual([]);
      // The fault-proxy cases cannot read frames through TLS: skipped with that reason, not failed.
      expect(report.cases.find((c) => c.id === 'hb.blackhole')).toMatchObject({ outcome: 'skip' });
      expect(report.cases.filter((c) => c.outcome === 'pass').length).toBeGreaterThanOrEqual(15);

      const argv = [emb.url, '--token', emb.tokens[0], '--token2', emb.tokens[1], '--ca', cert.certFile, '--select', 'CONF-1,AUTH-5,HTTP-5', '--quiet'];
      const out = await captured(() => mooringTest(argv));
      expect(out.code, out.text).toBe(0);
      expect(out.text).toMatch(/PASSED/);
      // Without --ca the preflight stops on the certificate (a setup error, exit 2).
      const without = await captured(() => mooringTest(argv.filter((a, i) => a !== '--ca' && argv[i - 1] !== '--ca')));
      expect(without.code).toBe(2);
      expect(without.text).toMatch(/self[- ]signed certificate/);
    } finally {
      await emb.close();
    }
  }, 60_000);
});
