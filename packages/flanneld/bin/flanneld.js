#!/usr/bin/env node
'use strict';
// A checked-in shim for the `flanneld` executable: npm links package bins at install time, before
// the TypeScript is built, so the bin must point at a file that already exists.
try {
  require.resolve('../dist/bin.js');
} catch {
  process.stderr.write('flanneld is not built yet: run `npm run build` at the repository root\n');
  process.exit(1);
}
require('../dist/bin.js');
