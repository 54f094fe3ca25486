/**
 * An incremental WebSocket frame reader (RFC 6455 §5.2) for the fault-injecting proxy. It only needs
 * frame boundaries, opcodes and (for text frames) the message type; frames are forwarded as the
 * original bytes, so client frames keep their mask.
 */
export const OPCODES = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;
export type OpcodeName = keyof typeof OPCODES;

export interface Frame {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  /** The frame's bytes exactly as received (header, mask key and payload). */
  raw: Buffer;
  /** The unmasked payload. */
  payload: Buffer;
}

export function opcodeName(op: number): OpcodeName | `0x${string}` {
  const hit = (Object.entries(OPCODES) as [OpcodeName, number][]).find(([, v]) => v === op);
  return hit ? hit[0] : `0x${op.toString(16)}`;
}

/** The `type` of a Mooring message in an unfragmented, uncompressed text frame. */
export function messageType(f: Frame): string | undefined {
  if (f.opcode !== OPCODES.text || !f.fin || f.rsv1) return undefined;
  try {
    const v = JSON.parse(f.payload.toString('utf8')) as { type?: unknown };
    return typeof v?.type === 'string' ? v.type : undefined;
  } catch {
    return undefined;
  }
}

export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  /** Feeds bytes; returns the frames completed by them. */
  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Frame[] = [];
    for (;;) {
      const f = this.take();
      if (!f) break;
      out.push(f);
    }
    return out;
  }

  /** Bytes held for an incomplete frame. */
  get pending(): number {
    return this.buf.length;
  }

  private take(): Frame | undefined {
    const b = this.buf;
    if (b.length < 2) return undefined;
    const fin = (b[0]! & 0x80) !== 0;
    const rsv1 = (b[0]! & 0x40) !== 0;
    const opcode = b[0]! & 0x0f;
    const masked = (b[1]! & 0x80) !== 0;
    let len = b[1]! & 0x7f;
    let off = 2;
    if (len === 126) {
      if (b.length < 4) return undefined;
      len = b.readUInt16BE(2);
      off = 4;
    } else if (len === 127) {
      if (b.length < 10) return undefined;
      const big = b.readBigUInt64BE(2);
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('frame too large');
      len = Number(big);
      off = 10;
    }
    const maskOff = off;
    if (masked) off += 4;
    if (b.length < off + len) return undefined;
    const raw = b.subarray(0, off + len);
    let payload = b.subarray(off, off + len);
    if (masked) {
      const key = b.subarray(maskOff, maskOff + 4);
      payload = Buffer.from(payload);
      for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i & 3]!;
    }
    this.buf = b.subarray(off + len);
    return { fin, rsv1, opcode, raw, payload };
  }
}
