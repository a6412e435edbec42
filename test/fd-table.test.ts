/**
 * The descriptor table grows before the load (target/fd-table.ts): in a fresh process the table
 * starts at 64 entries, and both the driver's pools and the helper must leave it large enough for
 * every connection they may open, without leaving a descriptor open. (A target process's table is
 * checked in target-api.test.ts, which has the infrastructure to start one.)
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');

/** Runs `body` in a fresh Node process; it prints a JSON object with the figures. */
function inFreshProcess(body: string): Record<string, number> {
  const script = `
import { readFileSync, readdirSync } from 'node:fs';
const fdSize = () => Number(/FDSize:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
const open = () => readdirSync('/proc/self/fd').length;
${body}`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: root,
    encoding: 'utf8',
  });
  return JSON.parse(out) as Record<string, number>;
}

describe('descriptor table reserved before the load', () => {
  it('reserveDescriptorsInBackground grows the table to hold the count on the thread pool, closes what it opened, and the caller keeps running meanwhile', () => {
    const r = inFreshProcess(`
const { reserveDescriptorsInBackground } = await import(${JSON.stringify(path.join(root, 'target/fd-table.ts'))});
const before = fdSize(), openBefore = open();
let turns = 0;
const tick = setInterval(() => turns++, 1);
const n = await reserveDescriptorsInBackground(700);
clearInterval(tick);
const t = performance.now();
const again = await reserveDescriptorsInBackground(500);
const againMs = performance.now() - t;
console.log(JSON.stringify({ before, after: fdSize(), n, openBefore, openAfter: open(), turns, again, againMs }));`);
    expect(r.before).toBeLessThan(700);
    expect(r.n).toBe(700);
    expect(r.after).toBeGreaterThanOrEqual(700);
    expect(r.openAfter).toBe(r.openBefore);
    // The event loop turned while the descriptors were opened: the main thread was not held.
    expect(r.turns).toBeGreaterThan(0);
    // Reserved already: the table is that large, nothing is opened again.
    expect(r.again).toBe(500);
    expect(r.againMs).toBeLessThan(5);
  });

  it("the driver's pools reserve a descriptor for every connection they may open", () => {
    const r = inFreshProcess(`
const { openPools } = await import(${JSON.stringify(path.join(root, 'harness/driver/connections.ts'))});
const before = fdSize();
const pools = await openPools(['http://127.0.0.1:9', 'http://127.0.0.1:9'], { connections: 400, preconnect: 0, requestTimeoutMs: 1000 });
const after = fdSize();
await pools.close();
console.log(JSON.stringify({ before, after }));`);
    expect(r.before).toBeLessThan(800);
    expect(r.after).toBeGreaterThanOrEqual(800);
  });
});
