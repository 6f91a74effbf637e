import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseCidr } from '@flannel-ts/core';
import type { LeaseAttrs } from '@flannel-ts/core';
import { createEtcdLeaseStore } from '@flannel-ts/subnet';
import type { EtcdLeaseStoreOptions, LeaseStore } from '@flannel-ts/subnet';
import { startEtcd } from '@flannel-ts/subnet/testing';
import type { EtcdServer } from '@flannel-ts/subnet/testing';

const run = promisify(execFile);
const attrs: LeaseAttrs = { publicIp: '1.2.3.4', publicIpv6: null };
const subnet = { ipv4: parseCidr('10.5.7.0/24')! };

let dir: string;
const file = (name: string): string => join(dir, name);
const servers: EtcdServer[] = [];
const stores: LeaseStore[] = [];

/** A store that afterAll closes, whatever the test's outcome. */
async function open(options: Omit<EtcdLeaseStoreOptions, 'prefix'>): Promise<LeaseStore> {
  const prefix = `/t-${randomBytes(4).toString('hex')}/network`;
  const store = await createEtcdLeaseStore({ prefix, ...options });
  stores.push(store);
  return store;
}

async function createAndList(store: LeaseStore): Promise<void> {
  expect((await store.create(subnet, attrs, 600)).kind).toBe('created');
  const listing = await store.list();
  expect(listing.leases.map((l) => l.attrs.publicIp)).toEqual(['1.2.3.4']);
}

const openssl = (args: readonly string[]) => run('openssl', [...args], { cwd: dir });
const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A self-signed CA: `<name>.crt` and `<name>.key`. */
async function makeCa(name: string): Promise<void> {
  const out = ['-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '1'];
  await openssl(['req', '-x509', ...newKey, ...out, '-subj', `/CN=${name}`]);
}

/** A key and a certificate signed by `ca.crt`, with the given X.509 v3 extensions. */
async function makeLeaf(name: string, extensions: string): Promise<void> {
  await writeFile(file(`${name}.ext`), extensions);
  const csr = ['-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`];
  await openssl(['req', ...newKey, ...csr]);
  await openssl([
    ...['x509', '-req', '-in', `${name}.csr`, '-out', `${name}.crt`, '-days', '1'],
    ...['-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-extfile', `${name}.ext`],
  ]);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ft-tls-'));
  await makeCa('ca');
  await makeCa('other-ca');
  await makeLeaf('server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await makeLeaf('client', 'extendedKeyUsage=clientAuth\n');
  await writeFile(file('not-pem.crt'), 'this is not a certificate\n');
}, 30_000);

afterAll(async () => {
  await Promise.allSettled(stores.map((s) => s.close()));
  await Promise.allSettled(servers.map((s) => s.stop()));
  if (dir) await rm(dir, { recursive: true, force: true });
}, 30_000);

describe('etcd over TLS with client certificates', () => {
  let etcd: EtcdServer;
  const client = () => ({ certFile: file('client.crt'), keyFile: file('client.key') });

  beforeAll(async () => {
    const tls = {
      certFile: file('server.crt'),
      keyFile: file('server.key'),
      caFile: file('ca.crt'),
    };
    etcd = await startEtcd({ tls });
    servers.push(etcd);
  }, 30_000);

  it('creates and lists a lease when the CA and client certificate are right', async () => {
    expect(etcd.endpoint).toMatch(/^https:\/\//);
    const store = await open({ endpoints: [etcd.endpoint], caFile: file('ca.crt'), ...client() });
    await createAndList(store);
  });

  it('fails with a TLS hint naming the endpoint and --etcd-cafile when the CA is wrong', async () => {
    const caFile = file('other-ca.crt');
    const store = await open({
      endpoints: [etcd.endpoint],
      caFile,
      ...client(),
      callTimeoutMs: 3000,
    });
    const err = await store.list().then(
      () => new Error('list succeeded against a server signed by another CA'),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    const message = (err as Error).message;
    expect(message).toContain(etcd.endpoint);
    expect(message).toContain(`--etcd-cafile ${caFile}`);
  }, 20_000);

  it('rejects unusable TLS files before connecting', async () => {
    const endpoints = [etcd.endpoint];
    const missing = file('no-such.crt');
    await expect(
      open({ endpoints, certFile: missing, keyFile: file('client.key') }),
    ).rejects.toThrow(new RegExp(`--etcd-certfile ${missing}`));
    await expect(
      open({ endpoints, certFile: file('not-pem.crt'), keyFile: file('client.key') }),
    ).rejects.toThrow(/not a PEM file/);
    await expect(open({ endpoints, certFile: file('client.crt') })).rejects.toThrow(
      /--etcd-certfile and --etcd-keyfile must be given together/,
    );
  });
});

describe('etcd with username/password authentication', () => {
  let etcd: EtcdServer;

  beforeAll(async () => {
    etcd = await startEtcd();
    servers.push(etcd);
    await etcd.etcdctl([
      'user',
      'add',
      'root',
      '--new-user-password=rootpw',
      '--interactive=false',
    ]);
    await etcd.etcdctl(['auth', 'enable']);
  }, 30_000);

  it('creates and lists a lease with the right password', async () => {
    const store = await open({ endpoints: [etcd.endpoint], username: 'root', password: 'rootpw' });
    await createAndList(store);
  });

  it('names the user and the flags, but not the password, when the password is wrong', async () => {
    const password = 'wrong-s3cret-pw';
    const store = await open({ endpoints: [etcd.endpoint], username: 'root', password });
    const err = await store.list().then(
      () => new Error('list succeeded with a wrong password'),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    const message = (err as Error).message;
    expect(message).toContain('user "root"');
    expect(message).toContain('--etcd-username/--etcd-password');
    expect(message).not.toContain(password);
  }, 20_000);
});
