/**
 * The driver process's modules as plain JavaScript, type-stripped here by the harness (which has
 * Node's TypeScript stripper loaded anyway) so the driver process never loads it: the stripper is
 * a WebAssembly build of swc that adds ~18 MB to the resident set of any process that imports a
 * .ts file. Node's compile cache spared it only when the cache happened to be warm for the exact
 * sources and V8 flags, so the driver's peak RSS depended on what ran before.
 *
 * The stripped sources of the driver's import graph go into one JSON file in the tool cache,
 * named by their hash (rewritten only when a source changes); the driver process starts with a
 * module hook (`driverImportFlag`) that serves each of its .ts modules from that file.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Relative static imports and re-exports of the stripped code (type-only ones are gone by then). */
const IMPORT =
  /(?:^|\n)\s*(?:import|export)\s[^;'"]*?from\s*['"](\.{1,2}\/[^'"]+\.ts)['"]|(?:^|\n)\s*import\s*['"](\.{1,2}\/[^'"]+\.ts)['"]/g;

/** file URL → stripped source, for `entry` and every .ts module it imports, transitively. */
export function strippedGraph(entry: string): Record<string, string> {
  const out: Record<string, string> = {};
  const todo = [resolve(entry)];
  // Node marks the stripper experimental and warns once per process; the harness uses it only
  // for this, on its own sources.
  const emitWarning = process.emitWarning;
  process.emitWarning = (() => {}) as typeof process.emitWarning;
  try {
    for (let file = todo.pop(); file !== undefined; file = todo.pop()) {
      const url = pathToFileURL(file).href;
      if (out[url] !== undefined) continue;
      const js = stripTypeScriptTypes(readFileSync(file, 'utf8'), { mode: 'strip' });
      out[url] = js;
      for (const m of js.matchAll(IMPORT)) todo.push(resolve(dirname(file), (m[1] ?? m[2]) as string));
    }
  } finally {
    process.emitWarning = emitWarning;
  }
  return out;
}

const written = new Map<string, string>();

/**
 * Writes (once per content) the stripped graph of `entry` under `cacheDir`; returns the file.
 * The driver runs that code, so the directory must be this user's alone.
 */
export function strippedGraphFile(entry: string, cacheDir: string): string {
  const known = written.get(entry);
  if (known) return known;
  const text = JSON.stringify(strippedGraph(entry));
  const hash = createHash('sha256').update(process.version).update(text).digest('hex').slice(0, 16);
  const dir = join(cacheDir, 'driver-js');
  const file = join(dir, `${hash}.json`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = statSync(dir);
  if ((process.getuid && st.uid !== process.getuid()) || (st.mode & 0o022) !== 0)
    throw new Error(`load driver: ${dir} must be owned by this user and not writable by others`);
  if (!existsSync(file)) {
    // Another run may write the same file at the same time: each writes its own and renames.
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, text, { mode: 0o600 });
    renameSync(tmp, file);
  }
  written.set(entry, file);
  return file;
}

/**
 * The `--import` flag that installs the hook in the driver process. Inline (a data: URL), so the
 * hook itself is plain JavaScript that needs no stripping either.
 */
export function driverImportFlag(graphFile: string): string {
  const hook = `import { registerHooks } from 'node:module';
import { readFileSync } from 'node:fs';
const graph = JSON.parse(readFileSync(${JSON.stringify(graphFile)}, 'utf8'));
registerHooks({ load(url, context, next) {
  const source = graph[url];
  return source === undefined ? next(url, context) : { format: 'module', source, shortCircuit: true };
} });`;
  return `--import=data:text/javascript,${encodeURIComponent(hook)}`;
}
