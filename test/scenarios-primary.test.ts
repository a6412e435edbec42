/** The scenario file's `primary:` list (metric ids the verdict ranks first). */
import { describe, expect, it } from 'vitest';
import { parseScenarioYaml } from '../scenarios/load.ts';
import { MINIMAL } from './helpers/scenario.ts';

describe('scenario primary metrics', () => {
  it('accepts metric ids and keeps them', () => {
    const s = parseScenarioYaml(`${MINIMAL}primary: [staleReadRatio, hitRatio]\n`, 'mine.yaml', 'mine');
    expect(s.primary).toEqual(['staleReadRatio', 'hitRatio']);
  });

  it('is optional', () => {
    expect(parseScenarioYaml(MINIMAL, 'mine.yaml', 'mine').primary).toBeUndefined();
  });

  it('rejects an unknown metric id naming the field, the value and what is allowed', () => {
    let msg = '';
    try {
      parseScenarioYaml(`${MINIMAL}primary: [staleness]\n`, 'mine.yaml', 'mine');
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/primary\[0\]/);
    expect(msg).toMatch(/staleness/);
    expect(msg).toMatch(/expected one of .*staleReadRatio/);
  });
});
