/**
 * A plain TCP relay with its own buffers, the kind of intermediary (a load balancer, a sidecar, a
 * corporate proxy) that sits between a real client and a real server: it reads eagerly from each side
 * into its own queue of up to `bufferBytes` and writes to the other side with backpressure. It knows
 * nothing of HTTP or WebSocket. A case that stops reading on the client side therefore sees the server
 * keep sending until this relay's queue (plus both kernels' socket buffers) is full: a slow-consumer
 * check that stops at a fixed byte count is absorbed (issue 7, false fail 3).
 *
 * Half-close is relayed (a FIN after the queue is flushed), a reset is relayed as a destroy of the
 * other side.
 */
import net from 'node:net';

export interface BufferingProxyOptions {
  /** Where to relay to. */
  targetHost?: string;
  targetPort: number;
  /** The relay's own queue per direction, in bytes; it stops reading a side when the queue is full. @default 4 MiB */
  bufferBytes?: number;
  /** How much it hands to the kernel of the writing side at once (the socket's writable buffer). @default 64 KiB */
  writeChunkBytes?: number;
}

export interface BufferingProxy {
  port: number;
  /** `ws://127.0.0.1:<port><path>` for a ws URL of the target. */
  urlFor(targetUrl: string): string;
  /** Bytes queued in the relay right now (both directions, all connections). */
  queuedBytes(): number;
  /** The largest total queue seen for one direction of one connection. */
  peakQueuedBytes(): number;
  connections(): number;
  close(): Promise<void>;
}

class Pipe {
  private queue: Buffer[] = [];
  queued = 0;
  peak = 0;
  private ended = false;

  constructor(
    private readonly from: net.Socket,
    private readonly to: net.Socket,
    private readonly capacity: number,
    private readonly chunk: number,
  ) {
    from.on('data', (d: Buffer) => {
      this.queue.push(d);
      this.queued += d.length;
      this.peak = Math.max(this.peak, this.queued);
      if (this.queued >= this.capacity) from.pause();
      this.flush();
    });
    from.on('end', () => {
      this.ended = true;
      this.flush();
    });
    to.on('drain', () => this.flush());
  }

  private flush(): void {
    if (this.to.destroyed) return;
    // Hand the kernel side at most `chunk` bytes beyond what it has not sent yet; keep the rest here.
    while (this.queue.length && this.to.writableLength < this.chunk) {
      const b = this.queue.shift()!;
      this.queued -= b.length;
      this.to.write(b);
    }
    if (this.queued < this.capacity && this.from.isPaused() && !this.from.destroyed) this.from.resume();
    if (this.ended && this.queue.length === 0 && !this.to.writableEnded) this.to.end();
  }
}

export async function startBufferingProxy(opts: BufferingProxyOptions): Promise<BufferingProxy> {
  const capacity = opts.bufferBytes ?? 4 * 1024 * 1024;
  const chunk = opts.writeChunkBytes ?? 64 * 1024;
  const host = opts.targetHost ?? '127.0.0.1';
  const pipes = new Set<Pipe>();
  const sockets = new Set<net.Socket>();
  let peak = 0;
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const upstream = net.connect({ host, port: opts.targetPort, allowHalfOpen: true });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.setNoDelay(true);
    }
    const up = new Pipe(client, upstream, capacity, chunk);
    const down = new Pipe(upstream, client, capacity, chunk);
    pipes.add(up).add(down);
    let gone = false;
    const teardown = (hadError: boolean) => {
      if (gone) return;
      gone = true;
      peak = Math.max(peak, up.peak, down.peak);
      pipes.delete(up);
      pipes.delete(down);
      // A reset or error on one side resets the other; a clean close lets the other side finish.
      for (const s of [client, upstream]) {
        if (hadError && !s.destroyed) s.resetAndDestroy();
        sockets.delete(s);
      }
    };
    const onClose = (other: net.Socket) => (hadError: boolean) => {
      if (hadError) teardown(true);
      else if (other.destroyed) teardown(false);
      else other.once('close', () => teardown(false));
    };
    client.on('error', () => teardown(true));
    upstream.on('error', () => teardown(true));
    client.on('close', onClose(upstream));
    upstream.on('close', onClose(client));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    urlFor(targetUrl) {
      const u = new URL(targetUrl);
      return `ws://127.0.0.1:${port}${u.pathname}${u.search}`;
    },
    queuedBytes: () => [...pipes].reduce((n, p) => n + p.queued, 0),
    peakQueuedBytes: () => Math.max(peak, ...[...pipes].map((p) => p.peak)),
    connections: () => sockets.size / 2,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
