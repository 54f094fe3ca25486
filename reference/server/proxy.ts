/**
 * Who the client is behind a reverse proxy (DEPLOY-1..5): the TCP peer, unless the peer is a proxy
 * the operator trusts (`trustProxy`), in which case the client address, scheme and host come from the
 * forwarding header the operator named (`forwardedHeader`), read from the right: the right-most hop
 * that is not itself trusted is the client.
 */
import { BlockList, isIP } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';

/** Where a request came from, as far as the trusted proxies say. */
export interface ClientOrigin {
  /** The client address (DEPLOY-2): the peer's, or the right-most untrusted hop's. */
  ip: string;
  /** The TCP peer, when it differs from `ip` (the proxy). */
  peer?: string;
  /** The scheme the client used ('http' | 'https'), when a trusted proxy said (DEPLOY-5). */
  proto?: string;
  /** The Host the client used, when a trusted proxy said (DEPLOY-5). */
  host?: string;
}

export type ForwardedHeader = 'x-forwarded-for' | 'forwarded';

/** Named ranges an entry of `trustProxy` may use instead of addresses. */
const NAMED: Record<string, string[]> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  private: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
};

/** '::ffff:10.0.0.1' → '10.0.0.1': an IPv4 peer on a dual-stack socket matches IPv4 entries. */
export function normalizeAddress(addr: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  return m ? m[1]! : addr;
}

/**
 * DEPLOY-7: parses `trustProxy` entries (addresses, CIDRs, 'loopback', 'private', 'linklocal');
 * throws a TypeError naming the first entry that is none of them.
 */
export function parseTrustProxy(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const raw of entries) {
    const entry = raw.trim().toLowerCase();
    if (NAMED[entry]) {
      for (const cidr of NAMED[entry]!) addCidr(list, cidr, raw);
    } else if (entry.includes('/')) {
      addCidr(list, entry, raw);
    } else {
      const addr = normalizeAddress(entry);
      const family = isIP(addr);
      if (family === 0) throw new TypeError(`trustProxy: "${raw}" is not an IP address, a CIDR (10.0.0.0/8) or one of loopback, private, linklocal`);
      list.addAddress(addr, family === 6 ? 'ipv6' : 'ipv4');
    }
  }
  return list;
}

function addCidr(list: BlockList, cidr: string, raw: string): void {
  const [addr, bits] = cidr.split('/') as [string, string];
  const family = isIP(addr);
  const prefix = Number(bits);
  const max = family === 6 ? 128 : 32;
  if (family === 0 || !/^\d+$/.test(bits) || prefix > max) {
    throw new TypeError(`trustProxy: "${raw}" is not a valid CIDR (address/prefix, prefix 0..${family === 6 ? 128 : 32})`);
  }
  list.addSubnet(addr, prefix, family === 6 ? 'ipv6' : 'ipv4');
}

/** Reads client origins from requests; `trusts` is false for every address when no proxy is trusted (DEPLOY-1). */
export class ProxyTrust {
  private readonly list: BlockList | null;

  constructor(entries: readonly string[] = [], private readonly header: ForwardedHeader = 'x-forwarded-for') {
    this.list = entries.length ? parseTrustProxy(entries) : null;
    if (header !== 'x-forwarded-for' && header !== 'forwarded') throw new TypeError(`forwardedHeader: "${header as string}" is not x-forwarded-for or forwarded`);
  }

  get enabled(): boolean {
    return this.list !== null;
  }

  trusts(addr: string | undefined): boolean {
    if (!this.list || !addr) return false;
    const a = normalizeAddress(addr);
    const family = isIP(a);
    return family !== 0 && this.list.check(a, family === 6 ? 'ipv6' : 'ipv4');
  }

  /**
   * DEPLOY-1, DEPLOY-2, DEPLOY-5: the client behind `peer`. Only a trusted peer's headers are read, and
   * only the configured header (a client can add the other one unchecked: DEPLOY-3).
   */
  clientOf(peer: string | undefined, headers: IncomingHttpHeaders): ClientOrigin {
    const p = peer ?? 'unknown';
    if (!this.trusts(p)) return { ip: p };
    const hops = this.header === 'forwarded' ? parseForwarded(str(headers.forwarded)) : parseXff(str(headers['x-forwarded-for']));
    // DEPLOY-2: from the right (the hop nearest this server) to the left; the first hop that is not a
    // trusted proxy is the client. A hop that is no address ends the walk at the proxy that wrote it.
    let ip = normalizeAddress(p);
    let chosen: Hop | undefined;
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!;
      if (hop.addr === undefined) break;
      ip = hop.addr;
      chosen = hop;
      if (!this.trusts(hop.addr)) break;
    }
    const out: ClientOrigin = { ip };
    if (ip !== p) out.peer = p;
    if (this.header === 'forwarded') {
      // The element naming the client was written by the proxy that received its request: its proto
      // and host are the ones the client used.
      if (chosen?.proto) out.proto = chosen.proto;
      if (chosen?.host) out.host = chosen.host;
    } else {
      // Written (set, not appended) by the trusted proxy in front of this server: the right-most value.
      const proto = last(str(headers['x-forwarded-proto']))?.toLowerCase();
      const host = last(str(headers['x-forwarded-host']));
      if (proto === 'http' || proto === 'https') out.proto = proto;
      if (host) out.host = host;
    }
    return out;
  }
}

interface Hop {
  /** undefined: not an IP address ('unknown', an obfuscated `_name`, garbage). */
  addr?: string;
  proto?: string;
  host?: string;
}

function str(v: string | string[] | undefined): string {
  return Array.isArray(v) ? v.join(', ') : (v ?? '');
}

function last(v: string): string | undefined {
  const parts = v.split(',').map((s) => s.trim()).filter(Boolean);
  return parts[parts.length - 1];
}

/** An address as a hop names it: '192.0.2.1', '192.0.2.1:4711', '[2001:db8::1]:4711', '2001:db8::1'. */
function hopAddress(text: string): string | undefined {
  let t = text.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(t);
  if (bracketed) t = bracketed[1]!;
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(t)) t = t.slice(0, t.lastIndexOf(':'));
  t = normalizeAddress(t);
  return isIP(t) ? t : undefined;
}

function parseXff(v: string): Hop[] {
  return v ? v.split(',').map((s) => ({ addr: hopAddress(s) })) : [];
}

/** RFC 7239: elements separated by commas, pairs by semicolons, values tokens or quoted strings. */
function parseForwarded(v: string): Hop[] {
  const hops: Hop[] = [];
  let hop: Hop & { seen?: boolean } = {};
  let i = 0;
  const end = () => {
    if (hop.seen) hops.push({ addr: hop.addr, proto: hop.proto, host: hop.host });
    hop = {};
  };
  while (i < v.length) {
    const m = /^\s*([A-Za-z]+)\s*=\s*/.exec(v.slice(i));
    if (!m) {
      // Not a pair: skip to the next element, which is then one hop with no address.
      const next = v.indexOf(',', i);
      hop.seen = true;
      i = next < 0 ? v.length : next + 1;
      end();
      continue;
    }
    i += m[0].length;
    let value = '';
    if (v[i] === '"') {
      i++;
      while (i < v.length && v[i] !== '"') {
        if (v[i] === '\\') i++;
        value += v[i] ?? '';
        i++;
      }
      i++;
    } else {
      const t = /^[^;,\s]*/.exec(v.slice(i))![0];
      value = t;
      i += t.length;
    }
    const key = m[1]!.toLowerCase();
    hop.seen = true;
    if (key === 'for') hop.addr = hopAddress(value);
    else if (key === 'proto') {
      const p = value.toLowerCase();
      if (p === 'http' || p === 'https') hop.proto = p;
    } else if (key === 'host') hop.host = value;
    while (i < v.length && /\s/.test(v[i]!)) i++;
    if (v[i] === ';') i++;
    else if (v[i] === ',') {
      i++;
      end();
    }
  }
  end();
  return hops;
}
