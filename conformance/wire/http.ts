/**
 * One HTTP request of the suite (the HTTP endpoints, HTTP-1..5), over node:http(s) rather than
 * `fetch` so that a wss:// server with a private CA (`mooring test --ca`) is reachable too.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface HttpAnswer {
  status: number;
  body: string;
  headers: Headers;
}

export function httpCall(url: string, init: { method?: string; headers?: Record<string, string> }, timeoutMs: number, ca?: string | Buffer): Promise<HttpAnswer> {
  const u = new URL(url);
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(u, { method: init.method ?? 'GET', headers: init.headers, ca, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
        resolve({ status: res.statusCode ?? 0, body, headers });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
