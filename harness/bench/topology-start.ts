/**
 * Cold start time of the local stack on each Redis topology (standalone; cluster: three masters
 * formed and cluster_state:ok on every node; replicated: primary, replica and Sentinels agreeing),
 * start to ready (PostgreSQL and Toxiproxy included, as a run waits for them), over N starts each,
 * interleaved so a busy machine's drift does not land on one topology; stop time beside it.
 *   node harness/bench/topology-start.ts [--n 5] [--topologies standalone,cluster,replicated]
 */
import { parseArgs } from 'node:util';
import { startLocalInfra } from '../infra/local.ts';
import { REDIS_TOPOLOGIES, type RedisTopology } from '../infra/types.ts';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '5' },
    topologies: { type: 'string', default: REDIS_TOPOLOGIES.join(',') },
  },
});
const n = Number(values.n);
const topologies = values.topologies.split(',') as RedisTopology[];
for (const t of topologies) {
  if (!REDIS_TOPOLOGIES.includes(t)) {
    console.error(`--topologies: "${t}" is not a topology (allowed: ${REDIS_TOPOLOGIES.join(', ')})`);
    process.exit(2);
  }
}
const starts = new Map<RedisTopology, number[]>(topologies.map((t) => [t, []]));
const stops = new Map<RedisTopology, number[]>(topologies.map((t) => [t, []]));
for (let i = 0; i < n; i++) {
  for (const topology of topologies) {
    const t0 = performance.now();
    const infra = await startLocalInfra({ topology });
    const t1 = performance.now();
    await infra.stop();
    const t2 = performance.now();
    starts.get(topology)!.push(t1 - t0);
    stops.get(topology)!.push(t2 - t1);
    console.log(
      `${topology} ${i + 1}/${n}: start ${(t1 - t0).toFixed(0)} ms, stop ${(t2 - t1).toFixed(0)} ms`,
    );
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const base = starts.has('standalone') ? median(starts.get('standalone')!) : undefined;
for (const t of topologies) {
  const s = starts.get(t)!;
  const extra =
    base !== undefined && t !== 'standalone' ? ` (+${(median(s) - base).toFixed(0)} ms vs standalone)` : '';
  console.log(
    `${t}: median cold start ${median(s).toFixed(0)} ms${extra} (min ${Math.min(...s).toFixed(0)}, max ${Math.max(...s).toFixed(0)}); median stop ${median(stops.get(t)!).toFixed(0)} ms`,
  );
}
