/**
 * The Express probe (`cachebench/probe`): counts what the service reports, answers the stats path
 * with the documented JSON, and cachebench's reader takes it (and refuses a malformed answer).
 */
import type { AddressInfo } from 'node:net';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { parseProbeStats, probeDelta, readProbe } from '../harness/service/collect.ts';
import { createProbe, DEFAULT_PROBE_PATH } from '../harness/service/probe/express.ts';

describe('Express probe', () => {
  it('counts hits, misses, source loads and requests; serves them on the stats path', async () => {
    const probe = createProbe();
    const app = express();
    app.use(probe.middleware);
    app.get('/users/:id', (req, res) => {
      if (req.params.id === '1') probe.hit();
      else {
        probe.miss();
        probe.load('db');
      }
      res.json({ id: req.params.id });
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const before = await readProbe(`${base}${DEFAULT_PROBE_PATH}`);
      expect(before).toEqual({ requests: 0, hits: 0, misses: 0, loads: {} });
      for (const id of [1, 1, 2, 3]) await (await fetch(`${base}/users/${id}`)).json();
      await (await fetch(`${base}/nope`)).text();
      const after = await readProbe(`${base}${DEFAULT_PROBE_PATH}`);
      // The stats reads themselves are not requests of the service.
      expect(after).toEqual({ requests: 5, hits: 2, misses: 2, loads: { db: 2 } });
      expect(probeDelta(after, before)).toEqual(after);
      const r = await fetch(`${base}${DEFAULT_PROBE_PATH}`);
      expect(r.headers.get('content-type')).toMatch(/application\/json/);
      expect(r.headers.get('cache-control')).toBe('no-store');
    } finally {
      server.close();
    }
  });

  it('refuses an answer that does not follow the contract, naming the field', () => {
    expect(() => parseProbeStats({ requests: 1, hits: 1, misses: 0 }, 'u')).toThrow(/"loads" is undefined/);
    expect(() => parseProbeStats({ requests: 1, hits: -1, misses: 0, loads: {} }, 'u')).toThrow(
      /"hits" is -1/,
    );
    expect(() => parseProbeStats({ requests: 1, hits: 1, misses: 0, loads: { db: 'x' } }, 'u')).toThrow(
      /"loads\.db" is "x"/,
    );
  });
});
