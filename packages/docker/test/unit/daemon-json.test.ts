import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mergeDaemonJson, updateDaemonJson } from '@flannel-ts/docker';

const settings = { bip: '10.5.3.1/24', mtu: 1450, ipMasq: true };

describe('daemon.json merge', () => {
  it('creates the settings when there is no file yet', () => {
    expect(mergeDaemonJson(undefined, settings)).toBe(
      '{\n  "bip": "10.5.3.1/24",\n  "mtu": 1450,\n  "ip-masq": true\n}\n',
    );
  });

  it('keeps every other key and the order of existing ones, replacing old values', () => {
    const text =
      '{"log-driver":"journald","mtu":1500,"storage-driver":"overlay2","bip":"172.17.0.1/16"}';
    expect(JSON.parse(mergeDaemonJson(text, { ...settings, ipMasq: false }))).toEqual({
      'log-driver': 'journald',
      mtu: 1450,
      'storage-driver': 'overlay2',
      bip: '10.5.3.1/24',
      'ip-masq': false,
    });
    expect(Object.keys(JSON.parse(mergeDaemonJson(text, settings)) as object)).toEqual([
      'log-driver',
      'mtu',
      'storage-driver',
      'bip',
      'ip-masq',
    ]);
  });

  it.each([['{"bip": '], ['[1,2]'], ['"text"']])(
    'refuses malformed input %s with a clear error',
    (text) => {
      expect(() => mergeDaemonJson(text, settings, '/etc/docker/daemon.json')).toThrow(
        /\/etc\/docker\/daemon\.json is not/,
      );
    },
  );

  it('refuses a "bridge" setting, which dockerd rejects together with "bip"', () => {
    expect(() => mergeDaemonJson('{"bridge":"br0"}', settings)).toThrow(/"bridge"/);
  });
});

describe('updateDaemonJson', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ft-daemon-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('rewrites the file once, then reports it unchanged', async () => {
    const path = join(dir, 'daemon.json');
    await writeFile(path, '{"debug":true}\n');
    expect(await updateDaemonJson(path, settings)).toBe(true);
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({
      debug: true,
      ...{ bip: '10.5.3.1/24', mtu: 1450, 'ip-masq': true },
    });
    expect(await updateDaemonJson(path, settings)).toBe(false);
  });

  it('leaves a malformed file byte for byte untouched', async () => {
    const path = join(dir, 'daemon.json');
    await writeFile(path, '{"debug": tru');
    await expect(updateDaemonJson(path, settings)).rejects.toThrow(/is not valid JSON/);
    expect(await readFile(path, 'utf8')).toBe('{"debug": tru');
  });
});
