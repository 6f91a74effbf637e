#!/usr/bin/env node
// Checks that every package's tsconfig `references` match its @flannel-ts dependencies, and that the
// root tsconfig references every package (as OpenTelemetry's update-ts-configs does). Exit 1 on drift.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const read = (p) => JSON.parse(readFileSync(join(root, p), 'utf8'));
const problems = [];
const packages = readdirSync(join(root, 'packages'));
const rootRefs = read('tsconfig.json')
  .references.map((r) => r.path)
  .sort();
const expectedRoot = packages.map((p) => `packages/${p}`).sort();
if (JSON.stringify(rootRefs) !== JSON.stringify(expectedRoot)) {
  problems.push(
    `tsconfig.json references ${rootRefs.join(', ')}; expected ${expectedRoot.join(', ')}`,
  );
}
for (const name of packages) {
  const pkg = read(`packages/${name}/package.json`);
  const deps = Object.keys({ ...pkg.dependencies })
    .filter((d) => d.startsWith('@flannel-ts/'))
    .map((d) => `../${d.slice('@flannel-ts/'.length)}`)
    .sort();
  const refs = (read(`packages/${name}/tsconfig.json`).references ?? []).map((r) => r.path).sort();
  if (JSON.stringify(deps) !== JSON.stringify(refs)) {
    problems.push(
      `packages/${name}: tsconfig references [${refs}] but package.json depends on [${deps}]`,
    );
  }
}
for (const p of problems) process.stderr.write(`check-references: ${p}\n`);
process.exit(problems.length === 0 ? 0 : 1);
