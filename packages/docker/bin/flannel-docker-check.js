#!/usr/bin/env node
'use strict';
// Checked-in shim for `flannel-docker-check` (checks docker0 against the lease): npm links bins at
// install time, before the TypeScript is built.
let main;
try {
  ({ dockerCheckMain: main } = require('../dist/bins.js'));
} catch {
  process.stderr.write(
    'flannel-docker-check is not built yet: run `npm run build` at the repository root\n',
  );
  process.exit(1);
}
main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`flannel-docker-check: ${String(err)}\n`);
    process.exit(1);
  },
);
