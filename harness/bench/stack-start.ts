/**
 * Cold start time of the local stack (redis-server + initdb'd PostgreSQL + toxiproxy-server,
 * proxies created, everything answering), start to ready, over N starts; stop time beside it.
 *   node harness/bench/stack-start.ts [--n 5]
 */
import { parseArgs } from 'node:util';
import { startLocalInfra } from '../infra/local.ts';

const { values } = parseArgs({ options: { n: { type: 'string', default: '5' } } });
const n = Number(values.n);
const starts: number[] = [];
const stops: number[] = [];
for (let i = 0; i < n; i++) {
  const t0 = performance.now();
  const infra = await startLocalInfra();
  const t1 = performance.now();
  await infra.stop();
  const t2 = performance.now();
  starts.push(t1 - t0);
  stops.push(t2 - t1);
  console.log(`start ${i + 1}/${n}: ${(t1 - t0).toFixed(0)} ms, stop ${(t2 - t1).toFixed(0)} ms`);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(
  `median cold start: ${median(starts).toFixed(0)} ms (min ${Math.min(...starts).toFixed(0)}, max ${Math.max(...starts).toFixed(0)}); median stop: ${median(stops).toFixed(0)} ms`,
);
