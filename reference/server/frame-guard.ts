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
  // The header being read, as numbers (no Buffer per connection: an idle connection costs less).
  private b0 = 0;
  private b1 = 0;
  /** The extended payload length read so far. */
  private ext = 0;
  /** Header bytes read of the current frame. */
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

  /** The verdict of the last `feed` that was not 'ok'. */
  lastVerdict: Exclude<GuardVerdict, 'ok'> = 'fragments';

  /** Feeds a chunk read from the socket; the first budget it exceeds, or 'ok'. */
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
      const byte = chunk[i++]!;
      const at = this.have++;
      if (at === 0) this.b0 = byte;
      else if (at === 1) {
        this.b1 = byte;
        this.ext = 0;
      } else if (at < 2 + this.extLength()) this.ext = this.ext * 256 + byte;
      // bytes of the mask key are only counted
      if (at < 1 || this.have < this.headerLength()) continue;
      const verdict = this.frame();
      this.have = 0;
      if (verdict !== 'ok') return verdict;
    }
    return 'ok';
  }

  /** Bytes of the extended payload length (RFC 6455 5.2). */
  private extLength(): number {
    const len7 = this.b1 & 0x7f;
    return len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
  }

  /** Bytes of the current header (its first two bytes are known). */
  private headerLength(): number {
    return 2 + this.extLength() + ((this.b1 & 0x80) !== 0 ? 4 : 0);
  }

  private frame(): GuardVerdict {
    const fin = (this.b0 & 0x80) !== 0;
    const opcode = this.b0 & 0x0f;
    const len7 = this.b1 & 0x7f;
    this.skip = len7 >= 126 ? this.ext : len7;
    if (opcode >= 0x8) return 'ok'; // control frames may interleave fragments
    this.fragments++;
    if (this.fragments > this.limits.maxFragments) return 'fragments';
    if (fin) this.fragments = 0;
    return 'ok';
  }
}
