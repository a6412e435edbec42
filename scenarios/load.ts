/**
 * Reading scenarios: catalog names or file paths → validated `Scenario`, and profiles applied on
 * top. Kept apart from schema.ts so validation stays free of the file system.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, isAbsolute, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { LIMITS, plannedArrivals, ScenarioError, validateScenario } from './schema.ts';
import { PROFILES, type Profile, type ProfileName, type Scenario } from './types.ts';

export const CATALOG_DIR = fileURLToPath(new URL('./catalog/', import.meta.url));

function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

/** Names of the catalog scenarios (file names without .yaml), sorted. */
export function listScenarios(): string[] {
  if (!existsSync(CATALOG_DIR)) return [];
  return readdirSync(CATALOG_DIR)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .map((f) => basename(f, extname(f)))
    .sort();
}

/** Parses YAML text into a validated scenario; `label` prefixes errors (the file path). */
export function parseScenarioYaml(text: string, label: string, defaultName?: string): Scenario {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => {
      const pos = e.linePos?.[0];
      const where = pos ? `line ${pos.line}, column ${pos.col}` : 'YAML';
      return `${label}: ${where}: ${e.message.split('\n')[0]}`;
    });
    throw new ScenarioError('SCENARIO_YAML', lines);
  }
  let js: unknown;
  try {
    js = doc.toJS({ maxAliasCount: LIMITS.yamlAliases });
  } catch (err) {
    // The yaml package throws a ReferenceError on too many alias expansions (an alias bomb).
    throw new ScenarioError(
      'SCENARIO_YAML',
      [
        `${label}: YAML: ${(err as Error).message.split('\n')[0]} (allowed: at most ${LIMITS.yamlAliases} alias expansions)`,
      ],
      { cause: err },
    );
  }
  return validateScenario(js, label, defaultName);
}

/**
 * A catalog name ("hot-key") or a path to a .yaml file. Unknown names fail with the list of
 * valid ones, so a typo on the command line is one retry away from right.
 */
export function loadScenario(nameOrPath: string): Scenario {
  const looksLikePath = /[\\/]/.test(nameOrPath) || /\.ya?ml$/i.test(nameOrPath);
  let file: string;
  if (looksLikePath) {
    file = resolve(nameOrPath);
    if (!existsSync(file)) {
      throw new ScenarioError('SCENARIO_NOT_FOUND', [`scenario file ${nameOrPath}: no such file`]);
    }
  } else {
    file = resolve(CATALOG_DIR, `${nameOrPath}.yaml`);
    if (!existsSync(file)) {
      throw new ScenarioError('SCENARIO_NOT_FOUND', [
        `scenario: unknown name ${JSON.stringify(nameOrPath)}; valid names: ${listScenarios().join(', ')} (or a path to a .yaml file)`,
      ]);
    }
  }
  let text: string;
  try {
    const { size } = statSync(file);
    if (!statSync(file).isFile()) {
      throw new ScenarioError('SCENARIO_UNREADABLE', [`${displayPath(file)}: not a regular file`]);
    }
    if (size > LIMITS.fileBytes) {
      throw new ScenarioError('SCENARIO_UNREADABLE', [
        `${displayPath(file)}: ${size} bytes is too large for a scenario file (allowed: at most ${LIMITS.fileBytes} bytes)`,
      ]);
    }
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ScenarioError) throw err;
    throw new ScenarioError('SCENARIO_UNREADABLE', [`${displayPath(file)}: ${(err as Error).message}`], {
      cause: err,
    });
  }
  return parseScenarioYaml(text, displayPath(file), basename(file, extname(file)));
}

export function resolveProfile(profile: ProfileName | Profile | string): Profile {
  if (typeof profile === 'object') return profile;
  const p = Object.hasOwn(PROFILES, profile) ? (PROFILES as Record<string, Profile>)[profile] : undefined;
  if (!p) {
    throw new ScenarioError('PROFILE_UNKNOWN', [
      `profile: unknown name ${JSON.stringify(profile)}; valid names: ${Object.keys(PROFILES).join(', ')}`,
    ]);
  }
  return p;
}

/**
 * Scales load phase durations and fault offsets/lengths by `durationScale`, and arrival rates by
 * `rateScale`. Cache options (TTLs) are left alone on purpose: a TTL is a production setting under
 * test, and scaling it would change what is measured, not just how long it takes.
 */
export function applyProfile(s: Scenario, profile: ProfileName | Profile | string): Scenario {
  const p = resolveProfile(profile);
  const ms = (v: number) => Math.max(1, Math.round(v * p.durationScale));
  const rate = (v: number) => Math.round(v * p.rateScale * 1000) / 1000;
  const out: Scenario = structuredClone(s);
  out.load.phases = s.load.phases.map((ph) => {
    const phase = { duration: ms(ph.duration), rate: rate(ph.rate) };
    return ph.to === undefined ? phase : { ...phase, to: rate(ph.to) };
  });
  out.faults = s.faults.map((f) => ({
    ...structuredClone(f),
    at: Math.round(f.at * p.durationScale),
    for: ms(f.for),
  }));
  const arrivals = plannedArrivals(out.load.phases);
  if (arrivals > LIMITS.arrivalsPerCell) {
    throw new ScenarioError('SCENARIO_INVALID', [
      `scenario ${s.name}: load.phases: profile ${p.name} makes ${Math.round(arrivals)} planned arrivals per cell (allowed: at most ${LIMITS.arrivalsPerCell}; use a smaller profile)`,
    ]);
  }
  return out;
}
