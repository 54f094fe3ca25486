/**
 * A self-signed certificate made at test time with openssl (installed by scripts/setup.sh), valid for
 * 127.0.0.1 and localhost, in a temp dir removed by `cleanup`. openssl over a JavaScript generator
 * package: one Debian tool every TLS deployment already has, no dependency to keep.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestCert {
  dir: string;
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
  cleanup(): void;
}

export function selfSignedCert(): TestCert {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mooring-tls-'));
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', keyFile, '-out', certFile,
  ], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
  return { dir, certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
