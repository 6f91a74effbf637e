import { IpCommandError } from '@flannel-ts/backend';
import { FakeIpRunner } from '@flannel-ts/backend/testing';
import { parseBatchStderr } from '../../src/ip-runner';

describe('FakeIpRunner', () => {
  it('answers known commands and records every call', async () => {
    const runner = new FakeIpRunner({ answers: { '-json addr show': '[]' } });
    runner.answer('-json route get 10.0.0.1', (args) => `[{"dst":"${args[3]}"}]`);

    await expect(runner.run(['-json', 'addr', 'show'])).resolves.toEqual({ stdout: '[]' });
    await expect(runner.run(['-json', 'route', 'get', '10.0.0.1'])).resolves.toEqual({
      stdout: '[{"dst":"10.0.0.1"}]',
    });
    expect(runner.calls).toEqual([
      ['-json', 'addr', 'show'],
      ['-json', 'route', 'get', '10.0.0.1'],
    ]);
  });

  it('fails unknown commands with an IpCommandError naming them', async () => {
    const runner = new FakeIpRunner();
    const failure = runner.run(['link', 'del', 'flannel.1']);
    await expect(failure).rejects.toBeInstanceOf(IpCommandError);
    await expect(failure).rejects.toThrow(/ip link del flannel\.1 failed \(exit 1\)/);
  });

  it('records batch lines and lets a test simulate a failing batch', async () => {
    const runner = new FakeIpRunner({
      onBatch: (lines) => {
        if (lines.includes('bad')) {
          throw new IpCommandError({
            binary: 'ip',
            args: ['-batch', '-'],
            exitCode: 1,
            stderr: '',
          });
        }
      },
    });
    await runner.batch(['route add 10.1.0.0/24 dev eth0', 'route add 10.2.0.0/24 dev eth0']);
    await expect(runner.batch(['bad'])).rejects.toBeInstanceOf(IpCommandError);
    expect(runner.batchLines).toEqual([
      'route add 10.1.0.0/24 dev eth0',
      'route add 10.2.0.0/24 dev eth0',
      'bad',
    ]);
  });
});

describe('IpCommandError', () => {
  it('reads like the command line that failed', () => {
    const err = new IpCommandError({
      binary: 'ip',
      args: ['-json', 'route', 'get', '1.2.3.4'],
      exitCode: 2,
      stderr: 'RTNETLINK answers: Network is unreachable\n',
    });
    expect(err.message).toBe(
      'ip -json route get 1.2.3.4 failed (exit 2): RTNETLINK answers: Network is unreachable',
    );
    expect(err.code).toBe('IP_COMMAND_FAILED');
  });
});

describe('parseBatchStderr', () => {
  it('attributes iproute2 messages to the batch lines that failed', () => {
    // Captured from `ip -force -batch -` (iproute2 6.1) with lines 2 and 4 failing.
    const stderr =
      'Cannot find device "nosuch"\nCommand failed -:2\nCannot find device "nosuch"\nCommand failed -:4\n';
    const lines = ['a', 'link set nosuch up', 'c', 'route add 10.9.0.0/24 dev nosuch'];
    expect(parseBatchStderr(stderr, lines)).toEqual({
      failedLines: [
        { lineNumber: 2, line: 'link set nosuch up', message: 'Cannot find device "nosuch"' },
        {
          lineNumber: 4,
          line: 'route add 10.9.0.0/24 dev nosuch',
          message: 'Cannot find device "nosuch"',
        },
      ],
      unattributed: '',
    });
  });

  it('keeps text printed when iproute2 stopped without naming a line', () => {
    const stderr = 'Error: any valid prefix is expected rather than "10.9.0.0/33".\n';
    expect(parseBatchStderr(stderr, ['x']).unattributed).toBe(
      'Error: any valid prefix is expected rather than "10.9.0.0/33".',
    );
  });
});
