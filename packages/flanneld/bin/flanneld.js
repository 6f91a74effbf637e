#!/usr/bin/env -S node --max-semi-space-size=1
'use strict';
// A checked-in shim for the `flanneld` executable: npm links package bins at install time, before
// the TypeScript is built, so the bin must point at a file that already exists.
// --max-semi-space-size=1 keeps V8's young generation small: the agent's garbage is short-lived
// and small, and this cuts its RSS by about a quarter at 5000 peers (npm run bench).
try {
  require.resolve('../dist/bin.js');
} catch {
  process.stderr.write('flanneld is not built yet: run `npm run build` at the repository root\n');
  process.exit(1);
}
require('../dist/bin.js');
