/** Gate rules: shipped defaults layered under a user's file. Validated with field paths. */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { z } from 'zod';
import { METRICS, type MetricId } from '../analysis/metrics.ts';
import { UsageError } from '../errors.ts';

const metricIds = Object.keys(METRICS) as [MetricId, ...MetricId[]];

const countRule = z.strictObject({
  metric: z.enum(metricIds),
  kind: z.literal('count'),
  maxIncrease: z.number().min(0),
  slack: z.number().min(0),
});
/**
 * proportion / rate: a significance test on the units inside the cells (two-proportion z-test;
 * exact conditional Poisson rate test) AND the same limit as `count` as the minimum effect. Both
 * must say "worse" for a regression: significance alone flags 0.081 → 0.083 on a million
 * requests, a limit alone flags noise on a few hundred.
 */
const testedRule = {
  metric: z.enum(metricIds),
  alpha: z.number().gt(0).lt(1),
  maxIncrease: z.number().min(0),
  slack: z.number().min(0),
};
const proportionRule = z.strictObject({ ...testedRule, kind: z.literal('proportion') });
const rateRule = z.strictObject({ ...testedRule, kind: z.literal('rate') });
const latencyRule = z.strictObject({
  metric: z.enum(metricIds),
  kind: z.literal('latency'),
  alpha: z.number().gt(0).lt(1),
  minEffect: z.number().min(0),
  minRepeats: z.number().int().min(2),
});
const rulesFile = z.strictObject({
  rules: z.array(z.discriminatedUnion('kind', [countRule, proportionRule, rateRule, latencyRule])),
});

export type CountRule = z.infer<typeof countRule>;
export type ProportionRule = z.infer<typeof proportionRule>;
export type RateRule = z.infer<typeof rateRule>;
export type LatencyRule = z.infer<typeof latencyRule>;
export type Rule = CountRule | ProportionRule | RateRule | LatencyRule;

export const DEFAULT_RULES_FILE = fileURLToPath(new URL('./default-rules.yaml', import.meta.url));

function parseRules(file: string): Rule[] {
  let doc: unknown;
  try {
    doc = YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError('BAD_RULES', `${file}: cannot read rules (${(e as Error).message.split('\n')[0]})`);
  }
  const r = rulesFile.safeParse(doc);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const at = issue.path
      .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
      .join('')
      .replace(/^\./, '');
    throw new UsageError('BAD_RULES', `${file}: ${at || '(root)'}: ${issue.message}`);
  }
  return r.data.rules;
}

/** Defaults, with any metric the user's file names replaced by the user's rule. */
export function loadRules(userFile?: string): Rule[] {
  const defaults = parseRules(DEFAULT_RULES_FILE);
  if (!userFile) return defaults;
  if (!fs.existsSync(userFile)) throw new UsageError('BAD_RULES', `--rules: ${userFile} does not exist`);
  const user = parseRules(userFile);
  const named = new Set(user.map((r) => r.metric));
  return [...defaults.filter((r) => !named.has(r.metric)), ...user];
}
