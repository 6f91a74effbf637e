#!/usr/bin/env node
// Prints the closing line CI reads ("tests: N passed, N failed") from jest's --json output, and
// exits 1 when anything failed, was skipped (a skip is a failure here), or nothing ran at all.
import { readFileSync } from 'node:fs';

const r = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const skipped = r.numPendingTests + r.numTodoTests;
if (skipped > 0) console.log(`test: ${skipped} skipped tests count as failures here`);
const failed = r.numFailedTests + skipped + (r.numRuntimeErrorTestSuites ?? 0);
console.log(`tests: ${r.numPassedTests} passed, ${failed} failed`);
process.exit(failed > 0 || r.numTotalTests === 0 ? 1 : 0);
