/** A bounded event log for diagnostics (the seed's debug page): the newest `size` entries. */
import type { LogEntry } from './types.js';

export class EventLog {
  private entries: LogEntry[] = [];
  constructor(private readonly size: number) {}

  add(ts: number, kind: LogEntry['kind'], detail: string): void {
    if (this.size <= 0) return;
    this.entries.push({ ts, kind, detail: detail.length > 200 ? `${detail.slice(0, 199)}…` : detail });
    if (this.entries.length > this.size) this.entries.splice(0, this.entries.length - this.size);
  }

  snapshot(): LogEntry[] {
    return this.entries.map((e) => ({ ...e }));
  }
}
