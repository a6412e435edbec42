/**
 * Progress for long runs: cell i of N, elapsed and ETA, live request rate and errors. One line
 * rewritten in place on a TTY; on CI (no TTY) a line every few seconds so logs stay readable.
 */
import type { CellProgress } from './cell.ts';

function fmt(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

export class Progress {
  private readonly tty = Boolean(process.stderr.isTTY);
  private lastPrint = 0;
  private readonly runStart = Date.now();
  private readonly cellDurations: number[] = [];
  private total: number;
  private readonly out: NodeJS.WriteStream;
  constructor(total: number, out: NodeJS.WriteStream = process.stderr) {
    this.total = total;
    this.out = out;
  }

  cellDone(ms: number): void {
    this.cellDurations.push(ms);
  }

  setTotal(total: number): void {
    this.total = total;
  }

  update(index: number, label: string, p: CellProgress): void {
    const now = Date.now();
    if (!this.tty && now - this.lastPrint < 5000 && p.phase === 'load') return;
    this.lastPrint = now;
    const done = this.cellDurations.length;
    const avg = done > 0 ? this.cellDurations.reduce((a, b) => a + b, 0) / done : p.totalMs + 5000;
    const eta = avg * (this.total - index) - (p.phase === 'load' ? p.elapsedMs : 0);
    const live =
      p.phase === 'load'
        ? ` ${fmt(p.elapsedMs)}/${fmt(p.totalMs)} ${Math.round(p.ratePerSec)} req/s, ${p.errors} errors${p.dropped ? `, ${p.dropped} dropped` : ''}`
        : ` ${p.phase}…`;
    const line = `[${index}/${this.total}] ${label}${live} | elapsed ${fmt(now - this.runStart)}, ETA ${fmt(eta)}`;
    if (this.tty) this.out.write(`\r\x1b[2K${line}`);
    else this.out.write(`${line}\n`);
  }

  log(line: string): void {
    if (this.tty) this.out.write('\r\x1b[2K');
    this.out.write(`${line}\n`);
  }
}
