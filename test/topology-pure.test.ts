/**
 * The topology axis as pure logic and as a user meets it on the command line: which topology a
 * cell runs on, the target options built from a handle, CLUSTER NODES parsing, helper key names,
 * the topology label reports print, and one-line errors for a bad `redis.topology` or `--topology`.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyzeResults } from '../harness/analysis/index.ts';
import { unsupportedFaults } from '../harness/faults.ts';
import {
  cellTopology,
  clusterMasters,
  clusterShape,
  targetTopologyOptions,
  withAddress,
} from '../harness/infra/topology.ts';
import type { InfraProcesses } from '../harness/infra/types.ts';
import { planMatrix } from '../harness/pipeline/run.ts';
import { topologyLabel } from '../harness/results/format.ts';
import { renderHtml } from '../reports/html.ts';
import { renderMarkdown } from '../reports/markdown.ts';
import { parseScenarioYaml } from '../scenarios/load.ts';
import { keyNamespace, leaseKey, lockKey } from '../target/keys.ts';
import { toNatMap } from '../target/redis-connect.ts';
import { inflightCounterKey, pendingCounterKey } from '../target/strategies/parts/key-names.ts';
import { CATALOG_LIKE, synthRun } from './fixtures/synthetic.ts';
import { MINIMAL } from './helpers/scenario.ts';

const CLI = path.resolve(import.meta.dirname, '../harness/cli.ts');

describe('topology of a cell', () => {
  it("the scenario's redis.topology wins over --topology, which wins over standalone", () => {
    expect(cellTopology({ redis: { topology: 'cluster' } }, 'replicated')).toBe('cluster');
    expect(cellTopology({}, 'cluster')).toBe('cluster');
    expect(cellTopology({ redis: {} })).toBe('standalone');
  });

  it('planMatrix gives each cell its topology', async () => {
    const { cells } = await planMatrix({
      scenarios: ['hot-key', 'cluster-correctness'],
      strategies: ['cache-aside'],
      profile: 'quick',
      repeats: 1,
      topology: 'replicated',
    });
    expect(cells.map((c) => [c.scenario.name, c.topology])).toEqual([
      ['hot-key', 'replicated'],
      ['cluster-correctness', 'cluster'],
    ]);
  });

  it('a bad redis.topology is one line naming the field, the value and what is allowed', () => {
    expect(() =>
      parseScenarioYaml(`${MINIMAL}redis: { topology: sharded }\n`, 'scenarios/x.yaml', 'x'),
    ).toThrow(
      /^scenarios\/x\.yaml: redis\.topology: expected one of standalone, replicated, cluster, got "sharded"$/,
    );
  });

  it('run --topology with a bad value exits 2 in one line, before anything starts', () => {
    const r = spawnSync(process.execPath, [CLI, 'run', '--default', '--topology', 'sharded'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')[0]).toMatch(
      /--topology <name>' argument 'sharded' is invalid\. Allowed choices are standalone, replicated, cluster/,
    );
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('faults on a topology', () => {
  it('a redis restart on a cluster is refused in one line naming the topology', () => {
    const processes = { supports: (s: string) => s === 'postgres' } as unknown as InfraProcesses;
    expect(unsupportedFaults([{ at: 1000, for: 1000, process: 'redis-restart' }], processes)).toBe(
      'process: "redis-restart" needs topology standalone (it restarts the one redis-server; a cluster\'s or replicated topology\'s nodes are not addressable by it)',
    );
    expect(
      unsupportedFaults([{ at: 1000, for: 1000, process: 'postgres-restart' }], processes),
    ).toBeUndefined();
  });
});

describe('target options from a handle', () => {
  const handle = {
    redisTopology: {
      kind: 'cluster' as const,
      nodes: [
        { host: '127.0.0.1', port: 7000 },
        { host: '127.0.0.1', port: 7001 },
      ],
      proxiedNodes: [
        { host: '127.0.0.1', port: 17000 },
        { host: '127.0.0.1', port: 17001 },
      ],
    },
  };

  it('maps every announced node address to its proxy', () => {
    expect(targetTopologyOptions(handle)).toEqual({
      redisTopology: 'cluster',
      redisNatMap: { '127.0.0.1:7000': '127.0.0.1:17000', '127.0.0.1:7001': '127.0.0.1:17001' },
    });
    // Nodes that announce their proxy need no mapping (and must get none: ioredis#1582).
    const announcing = {
      redisTopology: {
        ...handle.redisTopology,
        nodes: handle.redisTopology.nodes.map((n, i) => ({ ...n, announcedPort: 17000 + i })),
      },
    };
    expect(targetTopologyOptions(announcing)).toEqual({ redisTopology: 'cluster', redisNatMap: {} });
    expect(toNatMap({ '127.0.0.1:7000': '127.0.0.1:17000' })).toEqual({
      '127.0.0.1:7000': { host: '127.0.0.1', port: 17000 },
    });
  });

  it('standalone adds nothing (the target keeps its defaults)', () => {
    expect(targetTopologyOptions({})).toEqual({});
  });

  it('withAddress keeps the credentials', () => {
    expect(withAddress('redis://:s3cret@127.0.0.1:7000', '127.0.0.1', 7002)).toBe(
      'redis://:s3cret@127.0.0.1:7002',
    );
  });
});

describe('CLUSTER NODES', () => {
  it('lists the masters that are not failed, by their announced address', () => {
    const nodes = [
      'a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460',
      'b2 127.0.0.1:7001@17001 master - 0 0 2 connected 5461-10922',
      'c3 127.0.0.1:7002@17002 master,fail - 0 0 3 disconnected',
      'd4 127.0.0.1:7003@17003 slave a1 0 0 1 connected',
    ].join('\n');
    expect(clusterMasters(nodes)).toEqual([
      { host: '127.0.0.1', port: 7000 },
      { host: '127.0.0.1', port: 7001 },
    ]);
  });
});

describe('helper keys share their value key slot', () => {
  it('lock, lease and the write-behind buffers carry the value key as hash tag', () => {
    expect(lockKey('cb:user:4')).toBe('{cb:user:4}:lock');
    expect(leaseKey('cb:team:7:members')).toBe('{cb:team:7:members}:lease');
    expect(pendingCounterKey(3, 'cb:')).toBe('{cb:counter:3}:pending');
    expect(inflightCounterKey(3, 'cb:')).toBe('{cb:counter:3}:inflight');
  });

  it('the key-count namespaces are the ones they were before the tags', () => {
    expect(keyNamespace(lockKey('cb:user:4'))).toBe('user-lock');
    expect(keyNamespace(leaseKey('cb:team:7:report'))).toBe('team-report-lease');
    expect(keyNamespace(pendingCounterKey(3))).toBe('counter-pending');
  });
});

describe('the topology label reports print', () => {
  it('counts masters and replicas in CLUSTER NODES, failed nodes left out', () => {
    const nodes = [
      'a1 127.0.0.2:7000@17000,127.0.0.1 myself,master - 0 0 1 connected 0-5460',
      'b2 127.0.0.2:7001@17001,127.0.0.1 master - 0 0 2 connected 5461-10922',
      'c3 127.0.0.2:7002@17002,127.0.0.1 master - 0 0 3 connected 10923-16383',
      'd4 127.0.0.2:7003@17003,127.0.0.1 slave a1 0 0 1 connected',
      'e5 127.0.0.2:7004@17004,127.0.0.1 slave b2 0 0 2 connected',
      'f6 127.0.0.2:7005@17005,127.0.0.1 slave,fail c3 0 0 3 disconnected',
    ].join('\n');
    expect(clusterShape(nodes)).toEqual({ masters: 3, replicas: 2 });
  });

  it('says whether the Cluster had replicas; other topologies keep their name', () => {
    expect(topologyLabel('cluster', { masters: 3, replicas: 3 })).toBe('cluster (3 masters × 1 replica)');
    expect(topologyLabel('cluster', { masters: 3, replicas: 6 })).toBe('cluster (3 masters × 2 replicas)');
    expect(topologyLabel('cluster', { masters: 3, replicas: 0 })).toBe('cluster (3 masters, no replicas)');
    expect(topologyLabel('cluster', { masters: 3, replicas: 2 })).toBe('cluster (3 masters, 2 replicas)');
    // Results from before the shape was recorded: what the scenario asked for.
    expect(topologyLabel('cluster', undefined, 1)).toBe('cluster (1 replica per master)');
    expect(topologyLabel('cluster')).toBe('cluster (no replicas)');
    expect(topologyLabel('replicated', { masters: 1, replicas: 1 })).toBe('replicated');
  });

  it('the report heading carries the label; the results keep the bare topology', () => {
    const { results } = synthRun({
      scenarios: CATALOG_LIKE.filter((x) => x.name === 'hot-key'),
      strategies: ['cache-aside'],
      seconds: 6,
      historyRate: 10,
    });
    for (const c of results.cells) {
      c.topology = 'cluster';
      c.topologyShape = { masters: 3, replicas: 3 };
    }
    const analysis = analyzeResults(results);
    expect(analysis.run.scenarios[0]!.topology).toBe('cluster');
    expect(results.cells[0]!.topology).toBe('cluster');
    const md = renderMarkdown(results, analysis);
    expect(md).toContain('### hot-key (topology: cluster (3 masters × 1 replica))');
    expect(renderHtml(results, analysis)).toContain(
      '<small>topology: cluster (3 masters × 1 replica)</small>',
    );
  });
});
