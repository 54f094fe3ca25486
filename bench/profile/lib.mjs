import { fork } from 'node:child_process';
import WebSocket from 'ws';
export function startTarget(kind, users = 50, execArgv = []) {
  const child = fork(new URL('./server.mjs', import.meta.url), [kind, String(users)], { execArgv: ['--expose-gc', ...(process.env.HEAPSIG ? ['--heapsnapshot-signal=SIGUSR2', '--diagnostic-dir=/tmp/perf-heap'] : []), ...execArgv], env: { ...process.env, NODE_ENV: 'production', VITEST: '' } });
  const pending = [];
  child.on('message', (m) => pending.shift()?.(m));
  const ask = (msg) => new Promise((r) => { pending.push(r); if (msg) child.send(msg); });
  return ask().then((info) => ({ child, ...info, ask, stop: () => new Promise((r) => { child.once('exit', r); child.send({ cmd: 'exit' }); }) }));
}
/** Opens a client; for mooring authenticates with `token`. Resolves with {ws, on(msg handler)}. */
export function connect(kind, port, token) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${kind === 'mooring' ? '/ws' : '/'}`, kind === 'mooring' ? ['mooring.v1'] : []);
    ws.on('error', reject);
    ws.on('open', () => ws.send(JSON.stringify({ type: 'auth', token })));
    ws.once('message', (d) => { const m = JSON.parse(d.toString()); if (m.type !== 'authenticated') reject(new Error(d.toString())); else resolve(ws); });
  });
}
export const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
export const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(s.length * p))]; };
