/**
 * A raw fuzzing connection: a real `ws` client that can send what no well-behaved client sends
 * (fragmented text, invalid UTF-8, binary), and records every frame in a shared transcript.
 */
import WebSocket from 'ws';
import { redact } from '../wire/redact.js';

export interface TranscriptLine {
  /** ms since the run started */
  t: number;
  conn: string;
  dir: '>' | '<' | '*';
  text: string;
}

export class Transcript {
  readonly lines: TranscriptLine[] = [];
  private readonly start = Date.now();
  /** Lines kept (a long run keeps its last lines). */
  constructor(private readonly max = 2_000) {}
  add(conn: string, dir: TranscriptLine['dir'], text: string): void {
    this.lines.push({ t: Date.now() - this.start, conn, dir, text: shorten(redact(text)) });
    if (this.lines.length > this.max) this.lines.splice(0, this.lines.length - this.max);
  }
  render(): string {
    return this.lines.map((l) => `${String(l.t).padStart(6)}ms ${l.conn.padEnd(4)} ${l.dir} ${l.text}`).join('\n');
  }
}

/** Long frames (64 KiB payloads, deep nesting) shown as their start, their end and their size. */
export function shorten(text: string, max = 240): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max / 2)}…${text.slice(-max / 4)} (${Buffer.byteLength(text)} bytes)`;
}

export interface CloseInfo {
  code: number;
  reason: string;
  /** true when this side started the close */
  byUs: boolean;
}

export class FuzzConn {
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<CloseInfo>;
  closeInfo: CloseInfo | null = null;
  private closingByUs = false;

  constructor(
    url: string,
    readonly label: string,
    private readonly transcript: Transcript,
    onText: (text: string) => void,
    onClose: (c: CloseInfo) => void,
  ) {
    this.ws = new WebSocket(url, 'mooring.v1', { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`handshake refused: HTTP ${res.statusCode}`)));
    });
    this.opened.catch(() => undefined);
    this.ws.on('error', () => undefined);
    this.ws.on('message', (data, isBinary) => {
      const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
      this.transcript.add(this.label, '<', isBinary ? `(binary ${text.length} bytes)` : text);
      onText(isBinary ? '\u0000binary' : text);
    });
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => {
        const info = { code, reason: reason.toString(), byUs: this.closingByUs };
        this.closeInfo = info;
        this.transcript.add(this.label, '*', `closed ${code}${info.reason ? ` ${info.reason}` : ''}${info.byUs ? ' (by the fuzzer)' : ''}`);
        onClose(info);
        resolve(info);
      });
    });
  }

  /**
   * The server has sent its close frame and the socket has not ended yet (a server that stops reading
   * a peer over a LIMIT-8 budget ends the socket only after its grace period).
   */
  get serverClosing(): boolean {
    return !this.closingByUs && this.closeInfo === null && this.ws.readyState === WebSocket.CLOSING;
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  sendText(text: string, note?: string): void {
    this.transcript.add(this.label, '>', note ? `${text}   [${note}]` : text);
    if (this.open) this.ws.send(text);
  }

  /** One text message in `pieces` frames (the first text, the rest continuation). */
  sendFragments(text: string, pieces: number, note?: string): void {
    const buf = Buffer.from(text, 'utf8');
    const n = Math.max(1, Math.min(pieces, buf.length || 1));
    this.transcript.add(this.label, '>', `${text}   [${note ?? ''}${note ? '; ' : ''}in ${n} fragments]`);
    if (!this.open) return;
    const size = Math.ceil(buf.length / n) || 1;
    for (let i = 0; i < n; i++) {
      const chunk = buf.subarray(i * size, Math.min(buf.length, (i + 1) * size));
      this.ws.send(chunk, { binary: false, fin: i === n - 1 });
    }
  }

  /** A text frame whose bytes are not UTF-8. */
  sendRawText(bytes: Buffer, note: string): void {
    this.transcript.add(this.label, '>', `(text frame, ${bytes.length} bytes: ${note})`);
    if (this.open) this.ws.send(bytes, { binary: false });
  }

  sendBinary(bytes: Buffer): void {
    this.transcript.add(this.label, '>', `(binary frame, ${bytes.length} bytes)`);
    if (this.open) this.ws.send(bytes, { binary: true });
  }

  close(code = 1000): void {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.closingByUs = true;
    this.transcript.add(this.label, '*', `close ${code} (by the fuzzer)`);
    if (this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
    else this.ws.close(code);
  }

  terminate(): void {
    this.closingByUs = true;
    this.ws.terminate();
  }
}
