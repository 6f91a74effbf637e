#!/usr/bin/env -S node --max-semi-space-size=1
'use strict';
// A checked-in shim for the `flanneld` executable: npm links package bins at install time, before
// the TypeScript is built, so the bin must point at a file that already exists.
// --max-semi-space-size=1 keeps V8's young generation small: the agent's garbage is short-lived
// and small, and this cuts its RSS by about a quarter at 5000 peers (npm run bench).
//
// It runs the one-file bundle that `npm run build` makes (scripts/bundle.mjs) through a V8 code
// cache kept beside it, which more than halves the time Node spends loading the agent; without
// the bundle it runs the plain build.
const fs = require('node:fs');
const path = require('node:path');

const bundle = path.join(__dirname, '../dist/bundle/flanneld.js');
const plain = path.join(__dirname, '../dist/bin.js');

/** Loads the bundle as a CommonJS module, compiled with the code cache when V8 accepts it. */
function loadBundle(file) {
  const vm = require('node:vm');
  const Module = require('node:module');
  const cacheFile = `${file}.v8-cache`;
  let cachedData;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    // No cache yet: this run writes it.
  }
  const source = fs.readFileSync(file, 'utf8');
  const script = new vm.Script(Module.wrap(source), { filename: file, cachedData });
  const mod = new Module(file, module);
  mod.filename = file;
  mod.paths = Module._nodeModulePaths(path.dirname(file));
  script
    .runInThisContext()
    .call(mod.exports, mod.exports, Module.createRequire(file), mod, file, path.dirname(file));
  if (cachedData === undefined || script.cachedDataRejected) {
    // A few seconds in (or at exit, if sooner), so the cache holds what start-up compiled too.
    // Written whole (temp file, then rename) or not at all: a read-only install runs without it.
    let written = false;
    const write = () => {
      if (written) return;
      written = true;
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      try {
        fs.writeFileSync(tmp, script.createCachedData());
        fs.renameSync(tmp, cacheFile);
      } catch {
        fs.rmSync(tmp, { force: true });
      }
    };
    setTimeout(write, 5000).unref();
    process.once('exit', write);
  }
  return mod.exports;
}

if (fs.existsSync(bundle)) {
  loadBundle(bundle).runAndExit();
} else if (fs.existsSync(plain)) {
  require(plain);
} else {
  process.stderr.write('flanneld is not built yet: run `npm run build` at the repository root\n');
  process.exit(1);
}
