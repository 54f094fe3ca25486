/**
 * A real nginx (Debian's /usr/sbin/nginx) in front of a server, for the integration tests: the proxy
 * settings are read from docs/deploy.md (one source), the rest of nginx.conf keeps everything in a
 * temp dir (pid, logs, temp paths) on a free loopback port, so it runs as root and as a normal user.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const NGINX = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';
const DOC = fileURLToPath(new URL('../../../../docs/deploy.md', import.meta.url));

/** The documented nginx settings: the `map` for Connection and the location's proxy settings. */
export function documentedNginx(doc = readFileSync(DOC, 'utf8')): { map: string; location: string } {
  const map = /^map \$http_upgrade \$connection_upgrade \{[\s\S]*?^\}/m.exec(doc)?.[0];
  const location = /# BEGIN mooring proxy settings\n([\s\S]*?)\s*# END mooring proxy settings/.exec(doc)?.[1];
  if (!map || !location) throw new Error('docs/deploy.md: the nginx map or the "# BEGIN/END mooring proxy settings" block is missing');
  return { map, location };
}

export interface Nginx {
  port: number;
  dir: string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts on 127.0.0.1:port, rejects when nginx exits first. */
function ready(port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = false;
    child.once('exit', (code) => {
      if (!done) reject(new Error(`nginx exited (${code}) before listening: ${stderr()}`));
      done = true;
    });
    const attempt = () => {
      if (done) return;
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        done = true;
        resolve();
      });
      s.once('error', () => setTimeout(attempt, 20));
    };
    attempt();
  });
}

/** Starts nginx on a free loopback port proxying to `upstreamPort` with the documented settings. */
export async function startNginx(upstreamPort: number): Promise<Nginx> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mooring-nginx-'));
  const port = await freePort();
  const { map, location } = documentedNginx();
  const conf = `
${process.getuid?.() === 0 ? 'user root root;' : ''}
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
    access_log ${dir}/access.log;
    client_body_temp_path ${dir}/client_body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
${map}
    server {
        listen 127.0.0.1:${port};
        location / {
            proxy_pass http://127.0.0.1:${upstreamPort};
${location}
        }
    }
}
`;
  writeFileSync(path.join(dir, 'nginx.conf'), conf);
  // -e: the error log before the config is read (else nginx tries /var/log/nginx as a normal user).
  const child = spawn(NGINX, ['-p', dir, '-e', `${dir}/error.log`, '-c', `${dir}/nginx.conf`, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await ready(port, child, () => stderr + (existsSync(`${dir}/error.log`) ? readFileSync(`${dir}/error.log`, 'utf8') : ''));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    port,
    dir,
    async stop() {
      child.kill('SIGTERM'); // nginx: fast shutdown
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
