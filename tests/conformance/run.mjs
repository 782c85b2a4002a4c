// The conformance runner: starts the server (or uses --url), runs every outside client against
// it, prints one line per check and a closing `N passed, M failed`, and exits non-zero on any
// failure.
//
//   node run.mjs --binary ../../target/debug/evenntify   start that binary on a free port
//   node run.mjs --url http://127.0.0.1:8080             use a server that is already running
//   node run.mjs --only audits,ws,schema,playground      run some of the groups

import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { httpAudits } from './checks/http-audits.mjs';
import { playground } from './checks/playground.mjs';
import { schemaTools } from './checks/schema-tools.mjs';
import { subscriptions } from './checks/subscriptions.mjs';
import { startServer } from './lib/server.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'out');
const { values: args } = parseArgs({
  options: { url: { type: 'string' }, binary: { type: 'string' }, only: { type: 'string' } },
});
const GROUPS = { audits: httpAudits, ws: subscriptions, schema: schemaTools, playground };
const selected = args.only ? args.only.split(',').map((g) => g.trim()) : Object.keys(GROUPS);

let passed = 0;
let failed = 0;
const failures = [];

/** Runs one named check and records its outcome; never throws. */
async function check(name, fn) {
  const started = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok    ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    failed++;
    failures.push(name);
    console.log(`FAIL  ${name}\n      ${String(error?.stack ?? error).replace(/\n/g, '\n      ')}`);
  }
}

await mkdir(out, { recursive: true });
let server;
try {
  if (args.url) {
    server = { url: args.url.replace(/\/$/, ''), stop: async () => {} };
  } else {
    const binary = resolve(args.binary ?? join(here, '../../target/debug/evenntify'));
    server = await startServer({ binary, logFile: join(out, 'server.log') });
  }
  console.log(`conformance: server at ${server.url}; groups: ${selected.join(', ')}`);
  for (const group of selected) {
    const run = GROUPS[group];
    if (!run) throw new Error(`unknown group ${group}; known: ${Object.keys(GROUPS).join(', ')}`);
    console.log(`\n--- ${group}`);
    // A group that cannot even set up (e.g. registering users) counts as one failure.
    await run({ url: server.url, check, out }).catch((error) =>
      check(`${group}: setup`, () => Promise.reject(error)),
    );
  }
} catch (error) {
  failed++;
  failures.push('runner');
  console.log(`FAIL  runner\n      ${String(error?.stack ?? error)}`);
} finally {
  await server?.stop();
}

if (failures.length) console.log(`\nfailed:\n  ${failures.join('\n  ')}`);
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
