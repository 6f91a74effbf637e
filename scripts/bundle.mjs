// Part of `npm run build`: bundles the flanneld agent into one file with esbuild,
// packages/flanneld/dist/bundle/flanneld.js, so the agent starts without resolving and reading
// ~330 modules (etcd3, gRPC, winston, commander and ours); the bin shim loads it with a V8 code
// cache (written here by one `flanneld --version`). etcd3 reads its .proto files at load time from `<bundle dir>/../proto`: they are copied
// to packages/flanneld/dist/proto.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const dist = join(root, 'packages/flanneld/dist');

await build({
  entryPoints: [join(dist, 'main.js')],
  outfile: join(dist, 'bundle/flanneld.js'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  logLevel: 'warning',
});

const protos = join(root, 'node_modules/etcd3/proto');
mkdirSync(join(dist, 'proto'), { recursive: true });
for (const f of readdirSync(protos).filter((n) => n.endsWith('.proto'))) {
  cpSync(join(protos, f), join(dist, 'proto', f));
}

// One run of the executable writes the bundle's V8 code cache, so the first real start has it too.
execFileSync(join(root, 'packages/flanneld/bin/flanneld.js'), ['--version'], { stdio: 'ignore' });
