// (c) @graphql-codegen (typescript + typescript-operations) over schema.graphql and the
// playground operations; (d) @graphql-inspector validate on those operations, and the schema
// introspected from the running server compared with schema.graphql (graphql-js, sorted, and
// graphql-inspector diff).

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  buildClientSchema,
  buildSchema,
  getIntrospectionQuery,
  lexicographicSortSchema,
  printSchema,
} from 'graphql';
import { playgroundOperationFiles, repo } from '../lib/graphql.mjs';

const here = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(here, 'node_modules', '.bin', name);

export async function schemaTools({ url, check, out }) {
  await check('codegen: typescript + typescript-operations over schema.graphql and playground/**/*.graphql', async () => {
    const run = await exec(bin('graphql-codegen'), ['--config', 'codegen.yml']);
    if (run.code !== 0) throw new Error(`graphql-codegen exited ${run.code}\n${run.output}`);
    const generated = await readFile(join(here, 'out/generated/graphql.ts'), 'utf8');
    const missing = playgroundOperationFiles()
      .map((file) => operationName(file))
      .filter((name) => name && !generated.includes(`export type ${name}Query`) && !generated.includes(`export type ${name}Mutation`) && !generated.includes(`export type ${name}Subscription`));
    if (missing.length) throw new Error(`no generated types for: ${missing.join(', ')}`);
  });

  await check('graphql-inspector validate: every playground operation is valid against schema.graphql', async () => {
    // --deprecated: an example operation must not teach a deprecated field either.
    const run = await exec(bin('graphql-inspector'), [
      'validate',
      join(repo, 'playground/**/*.graphql'),
      join(repo, 'schema.graphql'),
      '--ignore',
      join(repo, 'playground/node_modules/**'),
      '--deprecated',
    ]);
    if (run.code !== 0 || /\berror\b/i.test(run.output)) {
      throw new Error(`graphql-inspector validate exited ${run.code}\n${run.output}`);
    }
  });

  const committed = await readFile(join(repo, 'schema.graphql'), 'utf8');
  let introspected;
  await check('the schema introspected from the server equals schema.graphql (sorted, printed)', async () => {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ query: getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, inputValueDeprecation: true }) }),
    });
    const body = await response.json();
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    introspected = printSchema(lexicographicSortSchema(buildClientSchema(body.data)));
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'introspected.graphql'), introspected);
    const expected = printSchema(lexicographicSortSchema(buildSchema(committed)));
    if (introspected !== expected) throw new Error(firstDifference(expected, introspected));
  });

  await check('graphql-inspector diff: no change between the served schema and schema.graphql', async () => {
    if (!introspected) throw new Error('no introspected schema (the previous check failed)');
    const run = await exec(bin('graphql-inspector'), [
      'diff',
      join(repo, 'schema.graphql'),
      join(out, 'introspected.graphql'),
    ]);
    if (run.code !== 0 || !/No changes detected/i.test(run.output)) {
      throw new Error(`graphql-inspector diff exited ${run.code}\n${run.output}`);
    }
  });
}

function operationName(file) {
  const source = readFileSync(join(repo, 'playground', file), 'utf8');
  return /^\s*(?:query|mutation|subscription)\s+([A-Za-z_][A-Za-z0-9_]*)/m.exec(source)?.[1];
}

function firstDifference(expected, actual) {
  const a = expected.split('\n');
  const b = actual.split('\n');
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) {
      const around = (lines) => lines.slice(Math.max(0, i - 3), i + 4).join('\n');
      return `line ${i + 1} differs:\n--- schema.graphql\n${around(a)}\n--- introspected\n${around(b)}`;
    }
  }
  return 'the printed schemas differ';
}

/** Runs a command in tests/conformance, collecting stdout and stderr together. */
function exec(command, args) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: here, env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' } });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', (e) => resolve({ code: -1, output: String(e) }));
    child.on('close', (code) => resolve({ code, output }));
  });
}
