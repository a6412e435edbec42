/**
 * Progress for long runs: cell i of N, elapsed and ETA, live request rate and errors. One line
 * rewritten in place on a TTY; on CI (no TTY) a line every few seconds so logs stay readable.
 */
import type { CellProgress } from './cell.ts';

/** Setup, warm-up and collection around a cell's load, until a finished cell says how long they take. */
const CELL_OVERHEAD_GUESS_MS = 5000;

function fmt(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

interface Out {
  write(s: string): unknown;
  isTTY?: boolean;
}

export class Progress {
  private readonly tty: boolean;
  private lastPrint = 0;
  private readonly runStart: number;
  private readonly cellDurations: number[] = [];
  private total: number;
  private readonly out: Out;
  private readonly now: () => number;
  private currentIndex = -1;
  private cellStart = 0;
  constructor(total: number, out: Out = process.stderr, now: () => number = Date.now) {
    this.total = total;
    this.out = out;
    this.tty = Boolean(out.isTTY);
    this.now = now;
    this.runStart = now();
  }

  cellDone(ms: number): void {
    this.cellDurations.push(ms);
  }

  setTotal(total: number): void {
    this.total = total;
  }

  /**
   * Time left: what remains of the current cell (`index`, 1-based) plus every cell after it. A
   * cell is expected to take as long as the finished ones did on average; before any finished,
   * its load plus a setup guess. A cell running longer than expected still has its load left.
   */
  etaMs(index: number, p: CellProgress): number {
    const done = this.cellDurations.length;
    const perCell =
      done > 0 ? this.cellDurations.reduce((a, b) => a + b, 0) / done : p.totalMs + CELL_OVERHEAD_GUESS_MS;
    const loadLeft = p.phase === 'load' ? p.totalMs - p.elapsedMs : 0;
    const currentLeft = Math.max(perCell - (this.now() - this.cellStart), loadLeft, 0);
    return currentLeft + perCell * Math.max(0, this.total - index);
  }

  update(index: number, label: string, p: CellProgress): void {
    const now = this.now();
    if (index !== this.currentIndex) {
      this.currentIndex = index;
      this.cellStart = now;
    }
    if (!this.tty && now - this.lastPrint < 5000 && p.phase === 'load') return;
    this.lastPrint = now;
    const live =
      p.phase === 'load'
        ? ` ${fmt(p.elapsedMs)}/${fmt(p.totalMs)} ${Math.round(p.ratePerSec)} req/s, ${p.errors} errors${p.dropped ? `, ${p.dropped} dropped` : ''}`
        : ` ${p.phase}…`;
    const line = `[${index}/${this.total}] ${label}${live} | elapsed ${fmt(now - this.runStart)}, ETA ${fmt(this.etaMs(index, p))}`;
    if (this.tty) this.out.write(`\r\x1b[2K${line}`);
    else this.out.write(`${line}\n`);
  }

  log(line: string): void {
    if (this.tty) this.out.write('\r\x1b[2K');
    this.out.write(`${line}\n`);
  }
}
