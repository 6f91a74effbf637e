'use strict';
// Shared by the checked-in bin shims: npm links bins at install time, before the TypeScript is
// built, so each shim is plain JavaScript that loads the built entry point by name and exits with
// the status it resolves to.
module.exports = function launch(command, entry) {
  let main;
  try {
    main = require('../dist/bins.js')[entry];
  } catch {
    process.stderr.write(
      `${command} is not built yet: run \`npm run build\` at the repository root\n`,
    );
    process.exit(1);
  }
  main().then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`${command}: ${String(err)}\n`);
      process.exit(1);
    },
  );
};
