/**
 * Behind a reverse proxy (DEPLOY-1..7): who the client is, per-IP limits and logs by client, the own
 * origin from the forwarded scheme and host. Peers are real loopback addresses: 127.0.0.1 plays the
 * trusted proxy, 127.0.0.2 and 127.0.0.3 untrusted clients (ws `localAddress`).
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ProxyTrust, parseTrustProxy } from '../../proxy.js';
import { parseServeArgs } from '../../../../cli/serve.js';
import { UsageError } from '../../../../cli/args.js';
import { start, until, useHarness, type TestServer } from '../helpers.js';

useHarness();

const PROXY = ['127.0.0.1', '10.0.0.0/8'];

describe('ProxyTrust', () => {
  it('DEPLOY-1: an untrusted peer is the client, whatever it forwards; with no proxy configured none is trusted', () => {
    const t = new ProxyTrust(PROXY);
    expect(t.clientOf('192.0.2.7', { 'x-forwarded-for': '203.0.113.1', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' })).toEqual({ ip: '192.0.2.7' });
    const none = new ProxyTrust();
    expect(none.enabled).toBe(false);
    expect(none.clientOf('127.0.0.1', { 'x-forwarded-for': '203.0.113.1' })).toEqual({ ip: '127.0.0.1' });
  });

  it('DEPLOY-2: the right-most hop that is not a trusted proxy is the client', () => {
    const t = new ProxyTrust(PROXY);
    // A client-forged left part is never reached: 198.51.100.4 is untrusted and ends the walk.
    expect(t.clientOf('127.0.0.1', { 'x-forwarded-for': '6.6.6.6, 198.51.100.4, 10.1.2.3' })).toEqual({ ip: '198.51.100.4', peer: '127.0.0.1' });
    // All trusted: the left-most. No header: the peer. Repeated header lines count as one list.
    expect(t.clientOf('127.0.0.1', { 'x-forwarded-for': '10.0.0.9, 10.1.2.3' }).ip).toBe('10.0.0.9');
    expect(t.clientOf('127.0.0.1', {})).toEqual({ ip: '127.0.0.1' });
    expect(t.clientOf('::ffff:127.0.0.1', { 'x-forwarded-for': ['10.0.0.9', '198.51.100.4'] }).ip).toBe('198.51.100.4');
    // A hop that is no address ends the walk at the trusted address to its right.
    expect(t.clientOf('127.0.0.1', { 'x-forwarded-for': '198.51.100.4, unknown, 10.1.2.3' }).ip).toBe('10.1.2.3');
    expect(t.clientOf('127.0.0.1', { 'x-forwarded-for': 'garbage' }).ip).toBe('127.0.0.1');
    // Forwarded (RFC 7239): quoted IPv6 with port, IPv4 with port, case-insensitive keys.
    const f = new ProxyTrust(PROXY, 'forwarded');
    expect(f.clientOf('127.0.0.1', { forwarded: 'for="[2001:db8:cafe::17]:4711";proto=https;host=app.example, For=10.0.0.2:80' })).toEqual({
      ip: '2001:db8:cafe::17', peer: '127.0.0.1', proto: 'https', host: 'app.example',
    });
    expect(f.clientOf('127.0.0.1', { forwarded: 'for=_hidden, for=10.0.0.2' }).ip).toBe('10.0.0.2');
  });

  it('DEPLOY-3: only the configured header is read', () => {
    const headers = { 'x-forwarded-for': '198.51.100.1', forwarded: 'for=198.51.100.2' };
    expect(new ProxyTrust(PROXY).clientOf('127.0.0.1', headers).ip).toBe('198.51.100.1');
    expect(new ProxyTrust(PROXY, 'forwarded').clientOf('127.0.0.1', headers).ip).toBe('198.51.100.2');
    // A client sending the header the proxy does not maintain gets nowhere.
    expect(new ProxyTrust(PROXY).clientOf('127.0.0.1', { forwarded: 'for=198.51.100.2' }).ip).toBe('127.0.0.1');
  });

  it('DEPLOY-7: entries are addresses, CIDRs or named ranges; anything else is an error naming it', () => {
    const t = new ProxyTrust(['loopback', 'private', '2001:db8::/32', '192.0.2.10']);
    for (const a of ['127.0.0.1', '127.9.9.9', '::1', '::ffff:127.0.0.1', '10.2.3.4', '172.20.0.1', '192.168.1.1', 'fd00::1', '2001:db8::5', '192.0.2.10'])
      expect(t.trusts(a), a).toBe(true);
    for (const a of ['192.0.2.11', '172.32.0.1', '8.8.8.8', '2001:db9::1', 'unknown', ''])
      expect(t.trusts(a), a).toBe(false);
    for (const bad of ['10.0.0.0/33', 'nope', '10.0.0/8', '1.2.3.4/x', 'localhost'])
      expect(() => parseTrustProxy([bad]), bad).toThrow(new RegExp(`"${bad.replace(/[./]/g, '\\$&')}"`));
    expect(() => new ProxyTrust(['127.0.0.1'], 'x-real-ip' as never)).toThrow(/forwardedHeader/);
  });

  it('DEPLOY-7: the server refuses to start, and mooring serve refuses the flag, on a bad entry', async () => {
    await expect(start({ trustProxy: ['10.0.0.0/33'] })).rejects.toThrow(/10\.0\.0\.0\/33/);
    expect(() => parseServeArgs(['--trust-proxy', '127.0.0.1,nope'])).toThrow(UsageError);
    expect(() => parseServeArgs(['--trust-proxy', '127.0.0.1,nope'])).toThrow(/"nope"/);
    expect(parseServeArgs(['--trust-proxy', 'loopback, 10.0.0.0/8', '--trust-proxy', '::1', '--forwarded-header', 'forwarded'])).toMatchObject({
      trustProxy: ['loopback', '10.0.0.0/8', '::1'], forwardedHeader: 'forwarded',
    });
  });
});

/** An upgrade from `localAddress` with `headers`: its HTTP status (101 when accepted) and socket. */
function upgrade(s: TestServer, o: { from?: string; headers?: Record<string, string>; origin?: string } = {}): Promise<{ status: number; ws?: WebSocket }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(s.url, 'mooring.v1', { localAddress: o.from ?? '127.0.0.1', headers: o.headers, origin: o.origin });
    ws.once('open', () => resolve({ status: 101, ws }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      res.resume();
    });
    ws.once('error', reject);
  });
}

const xff = (ip: string) => ({ 'x-forwarded-for': ip });

describe('a server behind a trusted proxy', () => {
  it('DEPLOY-4: per-IP limits count the clients behind a trusted proxy one by one, never the proxy as one', async () => {
    const s = await start({ trustProxy: ['127.0.0.1'], maxConnectionsPerIp: 2, maxSocketsPerIp: 3 });
    const open: WebSocket[] = [];
    for (let i = 0; i < 2; i++) open.push((await upgrade(s, { headers: xff('198.51.100.1') })).ws!);
    // LIMIT-2 for the client behind the proxy: its third is refused...
    expect((await upgrade(s, { headers: xff('198.51.100.1') })).status).toBe(429);
    // ...while other clients of the same proxy still get in, beyond the per-IP socket cap.
    for (let i = 2; i < 6; i++) {
      const r = await upgrade(s, { headers: xff(`198.51.100.${i}`) });
      expect(r.status).toBe(101);
      open.push(r.ws!);
    }
    expect(s.connectionCount()).toBe(6);
    // A forged X-Forwarded-For from an untrusted peer counts against the peer.
    const fromB: WebSocket[] = [];
    for (let i = 0; i < 2; i++) fromB.push((await upgrade(s, { from: '127.0.0.2', headers: xff(`203.0.113.${i}`) })).ws!);
    expect((await upgrade(s, { from: '127.0.0.2', headers: xff('203.0.113.9') })).status).toBe(429);
    for (const w of [...open, ...fromB]) w.terminate();
  });

  it('DEPLOY-4: a flood of raw sockets from an untrusted peer is still dropped at accept; the proxy\'s are not', async () => {
    const s = await start({ trustProxy: ['127.0.0.1'], maxConnectionsPerIp: 1, maxSocketsPerIp: 2 });
    const connectFrom = (localAddress: string) => new Promise<net.Socket>((resolve, reject) => {
      const c = net.connect({ host: '127.0.0.1', port: s.port, localAddress }, () => resolve(c));
      c.once('error', reject);
    });
    const untrusted = [await connectFrom('127.0.0.2'), await connectFrom('127.0.0.2'), await connectFrom('127.0.0.2')];
    await new Promise((r) => untrusted[2]!.once('close', r)); // LIMIT-9: the third is destroyed at accept
    expect(untrusted[0]!.destroyed).toBe(false);
    const proxied = [] as net.Socket[];
    for (let i = 0; i < 5; i++) proxied.push(await connectFrom('127.0.0.1'));
    // The fifth socket of the proxy still gets an HTTP answer.
    const answer = new Promise<string>((resolve) => proxied[4]!.once('data', (d) => resolve(d.toString())));
    proxied[4]!.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    expect(await answer).toMatch(/^HTTP\/1\.1 200/);
    for (const c of [...untrusted, ...proxied]) c.destroy();
  });

  it('DEPLOY-5: the own origin is the forwarded scheme and host; an untrusted peer\'s forwarding is ignored', async () => {
    const s = await start({ trustProxy: ['127.0.0.1'] });
    const fwd = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'app.example' };
    const statusOf = async (origin: string, from = '127.0.0.1', headers: Record<string, string> = fwd) => {
      const r = await upgrade(s, { from, headers, origin });
      r.ws?.terminate();
      return r.status;
    };
    expect(await statusOf('https://app.example')).toBe(101);
    expect(await statusOf('http://app.example')).toBe(403); // the scheme was forwarded: exact
    expect(await statusOf(`http://127.0.0.1:${s.port}`)).toBe(403); // the upstream Host is not the public origin
    expect(await statusOf('https://app.example', '127.0.0.2')).toBe(403); // DEPLOY-1: not from a trusted proxy
    expect(await statusOf(`http://127.0.0.1:${s.port}`, '127.0.0.2')).toBe(101); // SEC-1 as before
    // Only a host forwarded: either scheme with it.
    expect(await statusOf('http://app.example', '127.0.0.1', { 'x-forwarded-host': 'app.example' })).toBe(101);
    // Forwarded (RFC 7239): proto and host of the element naming the client.
    const f = await start({ trustProxy: ['127.0.0.1'], forwardedHeader: 'forwarded' });
    const r = await upgrade(f, { headers: { forwarded: 'for=198.51.100.7;proto=https;host=chat.example' }, origin: 'https://chat.example' });
    expect(r.status).toBe(101);
    r.ws!.terminate();
  });

  it('DEPLOY-6: log lines give the client address as ip and the proxy as peer', async () => {
    const s = await start({ trustProxy: ['127.0.0.1'] });
    const ok = await upgrade(s, { headers: xff('198.51.100.23') });
    await until(() => s.logs.some((l) => l.event === 'connection_opened'));
    expect(s.logs.find((l) => l.event === 'connection_opened')).toMatchObject({ ip: '198.51.100.23' });
    ok.ws!.terminate();
    expect((await upgrade(s, { headers: { ...xff('198.51.100.24') }, origin: 'https://evil.example' })).status).toBe(403);
    expect(s.logs.find((l) => l.event === 'handshake_rejected')).toMatchObject({ ip: '198.51.100.24', peer: '127.0.0.1', status: 403 });
    // Untrusted: the peer, no peer field.
    expect((await upgrade(s, { from: '127.0.0.3', headers: xff('198.51.100.25'), origin: 'https://evil.example' })).status).toBe(403);
    const last = s.logs.filter((l) => l.event === 'handshake_rejected').at(-1)!;
    expect(last).toMatchObject({ ip: '127.0.0.3' });
    expect(last).not.toHaveProperty('peer');
  });
});
