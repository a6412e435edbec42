/**
 * The operation history as NDJSON (one HistoryRecord per line), streamed to its file while the
 * load runs: memory stays bounded whatever the number of operations.
 */
import { closeSync, write as fsWrite, openSync, writeSync } from 'node:fs';
import type { HistoryRecord } from '../results/schema.ts';

const HISTORY_CHUNK = 64 * 1024;

/**
 * A record's `versions` already as JSON text (response-scan.ts), written as the line's `versions`
 * field. A symbol key: JSON.stringify leaves it out of the rest of the line.
 */
export const RAW_VERSIONS = Symbol('versions as JSON text');
export type DriverRecord = HistoryRecord & { [RAW_VERSIONS]?: string };
const VERSIONS_FIELD = ',"versions":';
/** Chunks waiting for the disk before writes turn synchronous (1 MB: a stalled disk cannot grow memory). */
const HISTORY_MAX_QUEUED = 16;

/**
 * History lines are packed into 64 KB chunks and written in the background (libuv's thread pool),
 * each at its own file offset: a disk that stalls for a moment (page-cache writeback on a busy
 * machine) never blocks the scheduler's thread, and memory stays bounded — past
 * HISTORY_MAX_QUEUED waiting chunks the writer falls back to writing synchronously (backpressure,
 * nothing dropped).
 */
export class HistoryWriter {
  private readonly fd: number;
  private buf: Buffer = Buffer.allocUnsafe(HISTORY_CHUNK);
  private used = 0;
  /** File offset of the next chunk. */
  private pos = 0;
  private readonly queue: { buf: Buffer; len: number; pos: number }[] = [];
  private readonly spare: Buffer[] = [];
  private inFlight: Promise<void> | undefined;
  private failed: Error | undefined;
  constructor(path: string) {
    this.fd = openSync(path, 'w');
  }
  write(rec: DriverRecord): void {
    const raw = rec[RAW_VERSIONS];
    const json = JSON.stringify(rec);
    // A JS string of n UTF-16 units is at most 3n bytes of UTF-8.
    const most = (json.length + (raw === undefined ? 0 : raw.length + VERSIONS_FIELD.length)) * 3 + 1;
    if (this.used + most > HISTORY_CHUNK) this.rotate();
    if (most > HISTORY_CHUNK) {
      const big = Buffer.from(
        raw === undefined ? `${json}\n` : `${json.slice(0, -1)}${VERSIONS_FIELD}${raw}}\n`,
      );
      this.enqueue(big, big.length);
      return;
    }
    // Written piece by piece into the chunk rather than concatenated first: no line string.
    let at = this.used + this.buf.write(json, this.used);
    if (raw !== undefined) {
      at += this.buf.write(VERSIONS_FIELD, at - 1) - 1; // over the record's closing brace
      at += this.buf.write(raw, at);
      this.buf[at++] = 0x7d; // }
    }
    this.buf[at++] = 0x0a; // \n
    this.used = at;
  }
  private rotate(): void {
    if (this.used === 0) return;
    this.enqueue(this.buf, this.used);
    this.buf = this.spare.pop() ?? Buffer.allocUnsafe(HISTORY_CHUNK);
    this.used = 0;
  }
  private enqueue(buf: Buffer, len: number): void {
    this.queue.push({ buf, len, pos: this.pos });
    this.pos += len;
    if (this.queue.length > HISTORY_MAX_QUEUED) this.writeQueuedSync();
    this.kick();
  }
  /** One background write at a time, oldest chunk first. */
  private kick(): void {
    if (this.inFlight || this.queue.length === 0) return;
    const chunk = this.queue.shift() as { buf: Buffer; len: number; pos: number };
    this.inFlight = writeFully(this.fd, chunk.buf, chunk.len, chunk.pos).then(
      () => {
        if (chunk.buf.length === HISTORY_CHUNK && this.spare.length < 2) this.spare.push(chunk.buf);
        this.inFlight = undefined;
        this.kick();
      },
      (err: Error) => {
        this.failed ??= err;
        this.inFlight = undefined;
      },
    );
  }
  private writeQueuedSync(): void {
    for (const c of this.queue.splice(0)) {
      let off = 0;
      while (off < c.len) off += writeSync(this.fd, c.buf, off, c.len - off, c.pos + off);
    }
  }
  /** Writes what is left, waits for the background write, closes; throws if any write failed. */
  async close(): Promise<void> {
    this.rotate();
    this.writeQueuedSync();
    await this.inFlight;
    closeSync(this.fd);
    if (this.failed) throw new Error(`history file: ${this.failed.message}`);
  }
}

async function writeFully(fd: number, buf: Buffer, len: number, pos: number): Promise<void> {
  let off = 0;
  while (off < len) {
    const n = await new Promise<number>((resolve, reject) =>
      fsWrite(fd, buf, off, len - off, pos + off, (err, written) => (err ? reject(err) : resolve(written))),
    );
    off += n;
  }
}
