import { encodeLeaseAttrs } from '@flannel-ts/core';
import type { BackendLeaseData } from '@flannel-ts/backend';
import { extensionBackend, iface } from './extension-fixtures';
import { exit } from './fake-command-runner';

// Our lease value for a PreStartupCommand output, against the bytes upstream writes for the same
// output. Upstream (backend/extension/extension.go, v0.20.2 and HEAD alike): the output is
// strings.TrimSpace of stdout and stderr combined, BackendData = json.Marshal(output) (a JSON
// string), BackendType "extension"; LeaseAttrs (pkg/lease/lease.go) serialises PublicIP,
// PublicIPv6 (null when unset), then BackendType and BackendData (omitted only when absent).
// Expected values below are written out by hand from those rules.

const signal = new AbortController().signal;

/** The value the agent writes for our lease: its attrs are these plus register()'s data. */
function leaseValue(data: BackendLeaseData): string {
  return encodeLeaseAttrs({ publicIp: iface.ipv4!.publicIp, publicIpv6: null, ...data });
}

/** register() with a PreStartupCommand whose combined output is `output`. */
async function registeredWith(output: string): Promise<BackendLeaseData> {
  const { backend, runner } = extensionBackend({ PreStartupCommand: 'cat mac' });
  runner.answer = () => ({ stdout: output });
  return backend.register(signal);
}

const PREFIX = '{"PublicIP":"192.168.77.1","PublicIPv6":null,"BackendType":"extension"';

describe('extension lease data', () => {
  it('publishes the trimmed output as a JSON string, byte for byte as upstream', async () => {
    const data = await registeredWith('6e:c3:90:34:97:c7\n');
    expect(leaseValue(data)).toBe(`${PREFIX},"BackendData":"6e:c3:90:34:97:c7"}`);
  });

  it('escapes quotes, backslashes and control characters as Go’s json.Marshal does', async () => {
    const data = await registeredWith(' \n first line\n"quoted"\tand \\ back\u0001\r\n\n');
    expect(leaseValue(data)).toBe(
      `${PREFIX},"BackendData":"first line\\n\\"quoted\\"\\tand \\\\ back\\u0001"}`,
    );
  });

  it('keeps non-ASCII text as UTF-8, unescaped, as Go does', async () => {
    const data = await registeredWith('café ☕ ключ\n');
    expect(leaseValue(data)).toBe(`${PREFIX},"BackendData":"café ☕ ключ"}`);
  });

  it('trims what Go’s strings.TrimSpace trims: U+0085 and U+00A0 go, U+FEFF stays', async () => {
    expect((await registeredWith('\u0085\u00a0mac\u3000\n')).backendData).toBe('mac');
    expect((await registeredWith('\ufeffmac\n')).backendData).toBe('\ufeffmac');
  });

  it('carries no BackendData without a PreStartupCommand', async () => {
    const { backend, runner } = extensionBackend({});
    expect(leaseValue(await backend.register(signal))).toBe(`${PREFIX}}`);
    expect(runner.runs).toEqual([]);
  });

  it('runs PreStartupCommand under the agent’s environment, a newline on stdin, output combined', async () => {
    const { backend, runner } = extensionBackend({ PreStartupCommand: 'cat mac' });
    await backend.register(signal);
    expect(runner.runs).toEqual([
      { name: 'PreStartupCommand', script: 'cat mac', env: {}, stdin: '\n', combineOutput: true },
    ]);
  });

  it('runs PreStartupCommand once: a repeated register (a retried start-up step) reuses it', async () => {
    const { backend, runner } = extensionBackend({ PreStartupCommand: 'cat mac' });
    runner.answer = () => ({ stdout: `mac-${runner.runs.length}` });
    const first = await backend.register(signal);
    expect(await backend.register(signal)).toBe(first);
    expect(runner.runs).toHaveLength(1);
  });

  it('fails, to be retried, with the exit status and output when PreStartupCommand fails', async () => {
    const { backend, runner } = extensionBackend({ PreStartupCommand: 'ip link add x type vxlan' });
    runner.answer = () => ({ ...exit(2), stdout: 'RTNETLINK answers: Operation not permitted\n' });
    const failure = backend.register(signal);
    await expect(failure).rejects.toThrow(
      "PreStartupCommand failed: exit status 2 (stdout: RTNETLINK answers: Operation not permitted); fix the command in the network config's Backend or what it needs (retrying with back-off)",
    );
    await expect(failure).rejects.toMatchObject({ disposition: 'retry' });
    runner.answer = () => ({ stdout: 'aa:bb:cc:dd:ee:ff' });
    expect((await backend.register(signal)).backendData).toBe('aa:bb:cc:dd:ee:ff');
  });

  it('writes "BackendData":"" for an empty output, as upstream does', async () => {
    expect(leaseValue(await registeredWith('\n'))).toBe(`${PREFIX},"BackendData":""}`);
  });

  it('escapes <, > and & as \\u003c, \\u003e and \\u0026, as Go does', async () => {
    expect(leaseValue(await registeredWith('<a & b>'))).toBe(
      `${PREFIX},"BackendData":"\\u003ca \\u0026 b\\u003e"}`,
    );
  });
});
