import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrCreateKey } from '@flannel-ts/backend';
import { createRecordingLogger } from '@flannel-ts/core/testing';

// Known pair (RFC 7748 section 6.1, Alice), base64 as `wg pubkey` prints it.
const ALICE_PRIVATE = Buffer.from(
  '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a',
  'hex',
).toString('base64');
const ALICE_PUBLIC = Buffer.from(
  '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
  'hex',
).toString('base64');

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'ftwg-key-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the WireGuard key file', () => {
  it('is created with mode 0400 (and its directory) when absent, holding a base64 key', async () => {
    const file = join(dir, 'run', 'flannel', 'wgkey');
    const logger = createRecordingLogger();
    const k = await loadOrCreateKey(file, logger);
    expect(k.created).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o400);
    expect(readFileSync(file, 'utf8')).toBe(k.privateKey);
    expect(k.privateKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(k.publicKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(logger.lines.filter((l) => l.level === 'warn')).toEqual([]);
  });

  it('is reused across restarts: same private and public key', async () => {
    const file = join(dir, 'wgkey');
    const first = await loadOrCreateKey(file, createRecordingLogger());
    const again = await loadOrCreateKey(file, createRecordingLogger());
    expect(again).toEqual({ ...first, created: false });
  });

  it('derives the public key as wg pubkey does (RFC 7748 test vector)', async () => {
    const file = join(dir, 'wgkey');
    writeFileSync(file, `${ALICE_PRIVATE}\n`, { mode: 0o400 });
    const k = await loadOrCreateKey(file, createRecordingLogger());
    expect(k.privateKey).toBe(ALICE_PRIVATE);
    expect(k.publicKey).toBe(ALICE_PUBLIC);
  });

  it('warns, naming the file and mode, when others may read it', async () => {
    const file = join(dir, 'wgkey');
    writeFileSync(file, ALICE_PRIVATE);
    chmodSync(file, 0o644);
    const logger = createRecordingLogger();
    const k = await loadOrCreateKey(file, logger);
    expect(k.publicKey).toBe(ALICE_PUBLIC);
    const warns = logger.lines.filter((l) => l.level === 'warn');
    expect(warns).toHaveLength(1);
    expect(warns[0]!.message).toMatch(/key file can be read or written by others/);
    expect(logger.fields[logger.lines.indexOf(warns[0]!)]).toMatchObject({ file, mode: '0644' });
  });

  it('refuses a file that holds no key, naming the file, and leaves it alone', async () => {
    const file = join(dir, 'wgkey');
    writeFileSync(file, 'garbage\n', { mode: 0o400 });
    await expect(loadOrCreateKey(file, createRecordingLogger())).rejects.toThrow(
      new RegExp(`key file ${file} holds no private key`),
    );
    expect(readFileSync(file, 'utf8')).toBe('garbage\n');
  });

  it('refuses a path it cannot read with a clear error', async () => {
    await expect(loadOrCreateKey(dir, createRecordingLogger())).rejects.toThrow(
      /cannot read the WireGuard key file/,
    );
  });
});
