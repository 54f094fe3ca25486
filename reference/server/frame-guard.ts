/**
 * LIMIT-8: a read-only scanner of the WebSocket frame headers a peer sends, beside `ws`'s own
 * parser. `ws` reassembles fragments up to maxPayload but keeps one Buffer per fragment, so 64 KiB
 * sent one byte per fragment costs megabytes; and before authentication nothing bounds the bytes a
 * peer sends but the auth deadline. The guard reads only headers (a few bytes per frame) and skips
 * payloads, so it costs next to nothing per byte.
 */
export interface FrameGuardLimits {
  /** Fragments (data frames) one message may have. */
  maxFragments: number;
  /** Bytes (frames and headers) a connection may send before it is authenticated. */
  preAuthBytes: number;
}

export type GuardVerdict = 'ok' | 'fragments' | 'pre_auth_bytes';

export class FrameGuard {
  private readonly header = Buffer.alloc(14);
  private have = 0;
  /** Payload bytes of the current frame still to skip. */
  private skip = 0;
  private fragments = 0;
  private received = 0;
  private authenticated = false;

  /** Called once the connection is authenticated: the pre-auth byte budget no longer applies. */
  markAuthenticated(): void {
    this.authenticated = true;
  }

  constructor(private readonly limits: FrameGuardLimits) {}

  /** Feeds a chunk read from the socket; the first budget it exceeds, or 'ok'. */
  /** The verdict of the last `feed` that was not 'ok'. */
  lastVerdict: Exclude<GuardVerdict, 'ok'> = 'fragments';

  feed(chunk: Buffer): GuardVerdict {
    const v = this.scan(chunk);
    if (v !== 'ok') this.lastVerdict = v;
    return v;
  }

  private scan(chunk: Buffer): GuardVerdict {
    if (!this.authenticated) {
      this.received += chunk.length;
      if (this.received > this.limits.preAuthBytes) return 'pre_auth_bytes';
    }
    let i = 0;
    while (i < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      this.header[this.have++] = chunk[i++]!;
      const need = this.headerLength();
      if (need === 0 || this.have < need) continue;
      const verdict = this.frame();
      this.have = 0;
      if (verdict !== 'ok') return verdict;
    }
    return 'ok';
  }

  /** Bytes of the current header once its first two bytes are known; 0 before. */
  private headerLength(): number {
    if (this.have < 2) return 0;
    const len7 = this.header[1]! & 0x7f;
    const masked = (this.header[1]! & 0x80) !== 0;
    return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
  }

  private frame(): GuardVerdict {
    const fin = (this.header[0]! & 0x80) !== 0;
    const opcode = this.header[0]! & 0x0f;
    const len7 = this.header[1]! & 0x7f;
    this.skip = len7 === 126 ? this.header.readUInt16BE(2) : len7 === 127 ? Number(this.header.readBigUInt64BE(2)) : len7;
    if (opcode >= 0x8) return 'ok'; // control frames may interleave fragments
    this.fragments++;
    if (this.fragments > this.limits.maxFragments) return 'fragments';
    if (fin) this.fragments = 0;
    return 'ok';
  }
}
