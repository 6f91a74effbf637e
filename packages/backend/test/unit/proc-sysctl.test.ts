import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createProcSysctl } from '@flannel-ts/backend';

describe('createProcSysctl', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'ft-sysctl-'));
  });
  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('writes the value to the file the key names under its root, device names with dots intact', async () => {
    mkdirSync(join(root, 'net/ipv6/conf/flannel.1'), { recursive: true });

    await createProcSysctl(root).set('net/ipv6/conf/flannel.1/accept_ra', '0');

    expect(readFileSync(join(root, 'net/ipv6/conf/flannel.1/accept_ra'), 'utf8')).toBe('0\n');
  });

  it('rejects with ENOENT when the key does not exist (a host without IPv6)', async () => {
    await expect(
      createProcSysctl(root).set('net/ipv6/conf/flannel.1/accept_ra', '0'),
    ).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
