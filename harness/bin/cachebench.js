#!/usr/bin/env node
// The npm bin. Plain JavaScript on purpose: it must run on any Node to say which Node is needed,
// before anything imports TypeScript. Syntax kept to what very old Node versions parse.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const pkg = JSON.parse(readFileSync(join(here, '..', '..', 'package.json'), 'utf8'));
const needed = /(\d+)\.(\d+)/.exec(pkg.engines.node);
const found = process.versions.node.split('.').map(Number);
const major = Number(needed[1]);
const minor = Number(needed[2]);
if (found[0] < major || (found[0] === major && found[1] < minor)) {
  process.stderr.write(
    'cachebench: Node ' +
      process.versions.node +
      ' found (' +
      process.execPath +
      '), cachebench needs Node >= ' +
      major +
      '.' +
      minor +
      ': install Node 24 (nvm install 24, brew install node@24, or https://nodejs.org/en/download) and run it again\n',
  );
  process.exit(1);
}

const entry = join(here, 'main.ts');
if (!here.split(/[\\/]/).includes('node_modules')) {
  // A checkout: Node strips the types itself.
  await import(pathToFileURL(entry).href);
} else {
  // Installed: Node refuses to strip types under node_modules, so the CLI runs with tsx's loader
  // in NODE_OPTIONS, which the target processes and the driver's worker thread inherit.
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const nodeOptions = ((process.env.NODE_OPTIONS || '') + ' --import="' + tsx + '"').trim();
  const child = spawn(process.execPath, [entry].concat(process.argv.slice(2)), {
    stdio: 'inherit',
    env: Object.assign({}, process.env, { NODE_OPTIONS: nodeOptions }),
  });
  // A terminal Ctrl-C reaches the child too (same process group); a signal sent to this process
  // alone is passed on. The child ignores a second one while it stops its services.
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const sig of signals) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => {
    if (signal) {
      for (const sig of signals) process.removeAllListeners(sig);
      process.kill(process.pid, signal);
    } else process.exit(code === null ? 1 : code);
  });
}
