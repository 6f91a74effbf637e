#!/usr/bin/env node
'use strict';
// Checked-in shim for `flannel-docker-opts` (mk-docker-opts.sh equivalent): npm links bins at
// install time, before the TypeScript is built.
let main;
try {
  ({ dockerOptsMain: main } = require('../dist/bins.js'));
} catch {
  process.stderr.write(
    'flannel-docker-opts is not built yet: run `npm run build` at the repository root\n',
  );
  process.exit(1);
}
main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`flannel-docker-opts: ${String(err)}\n`);
    process.exit(1);
  },
);
