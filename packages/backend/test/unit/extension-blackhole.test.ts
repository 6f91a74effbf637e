import { noopLogger } from '@flannel-ts/core';
import { BLACKHOLE_METRIC, extensionBackendFactory } from '@flannel-ts/backend';
import { FakeIpRunner } from '@flannel-ts/backend/testing';
import { iface, network, own } from './extension-fixtures';
import { extLease, FakeCommandRunner, joined } from './fake-command-runner';

// `--ip-blackhole-route` with the extension backend: the route of our subnet is kept as alloc's
// is, beside the peers' commands.

const signal = new AbortController().signal;
const READ = '-json route show type blackhole';

describe('--ip-blackhole-route on extension', () => {
  it('keeps the route of our subnet and runs the peers’ commands in the same passes', async () => {
    const routes: string[] = [];
    const ip = new FakeIpRunner({
      answers: {
        [READ]: () =>
          JSON.stringify(
            routes.map((dst) => ({ type: 'blackhole', dst, metric: BLACKHOLE_METRIC, flags: [] })),
          ),
      },
      onBatch: (lines) => {
        for (const line of lines) {
          const dst = /^route replace blackhole (\S+)/.exec(line)?.[1];
          if (dst !== undefined) routes.push(dst);
        }
      },
    });
    const runner = new FakeCommandRunner();
    const backend = extensionBackendFactory({ runner })({
      iface,
      options: { Type: 'extension', SubnetAddCommand: 'add-it' },
      logger: noopLogger,
      runners: { ip, bridge: new FakeIpRunner() },
      blackholeRoute: true,
    });
    const dp = (await backend.start(own, { ipv4: network }, signal))!;
    dp.update(joined(extLease(2)));

    expect(await dp.resync(signal)).toMatchObject({ changes: 2, programmedPeers: 1 });
    expect(routes).toEqual(['10.5.34.0/24']);
    expect(runner.log).toEqual(['+add 10.5.2.0/24', '-add 10.5.2.0/24']);
    await expect(dp.resync(signal)).resolves.toMatchObject({ changes: 0 });
  });
});
