import { formatSubnetKey, parseCidr } from '@flannel-ts/core';
import type { Lease } from '@flannel-ts/core';
import type { CommandResult, CommandRun, CommandRunner } from '@flannel-ts/backend';

/** What a fake command answers: a result, or a promise of one (to hold it running). */
export type FakeAnswer = Partial<CommandResult> | Promise<Partial<CommandResult>>;

/** A promise with its resolver, for holding a command until the test lets it end. */
export interface Gate {
  readonly promise: Promise<Partial<CommandResult>>;
  open(result?: Partial<CommandResult>): void;
}

/** Makes a {@link Gate}. */
export function gate(): Gate {
  let open!: (r: Partial<CommandResult>) => void;
  const promise = new Promise<Partial<CommandResult>>((resolve) => (open = resolve));
  return { promise, open: (r = {}) => open(r) };
}

/**
 * A {@link CommandRunner} that runs nothing: `answer` decides each run's result (exit 0 by
 * default). It records every run, the order of starts and ends (`log`: `+add 10.5.2.0/24`,
 * `-add 10.5.2.0/24`), and the most commands it saw running at once, overall and per subnet.
 */
export class FakeCommandRunner implements CommandRunner {
  readonly runs: CommandRun[] = [];
  readonly log: string[] = [];
  answer: (run: CommandRun) => FakeAnswer = () => ({});
  maxRunning = 0;
  maxRunningPerSubnet = 0;
  private running = 0;
  private readonly perSubnet = new Map<string, number>();
  private readonly waiters: { count: number; resolve: () => void }[] = [];

  async run(command: CommandRun): Promise<CommandResult> {
    const label = `${SHORT[command.name]} ${command.env['SUBNET'] ?? ''}`.trim();
    const subnet = command.env['SUBNET'] ?? '';
    this.runs.push(command);
    this.log.push(`+${label}`);
    this.running++;
    this.perSubnet.set(subnet, (this.perSubnet.get(subnet) ?? 0) + 1);
    this.maxRunning = Math.max(this.maxRunning, this.running);
    this.maxRunningPerSubnet = Math.max(this.maxRunningPerSubnet, this.perSubnet.get(subnet)!);
    for (const w of this.waiters.filter((w) => this.runs.length >= w.count)) w.resolve();
    try {
      const r = await this.answer(command);
      return { exitCode: 0, timedOut: false, stdout: '', stderr: '', ...r };
    } finally {
      this.running--;
      this.perSubnet.set(subnet, this.perSubnet.get(subnet)! - 1);
      this.log.push(`-${label}`);
    }
  }

  /** Resolves once `count` runs have started in all. */
  started(count: number): Promise<void> {
    if (this.runs.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }
}

const SHORT: Readonly<Record<CommandRun['name'], string>> = {
  PreStartupCommand: 'pre',
  PostStartupCommand: 'post',
  SubnetAddCommand: 'add',
  SubnetRemoveCommand: 'remove',
};

/** A failed run's result. */
export const exit = (code: number, stderr = ''): Partial<CommandResult> => ({
  exitCode: code,
  stderr,
});

/** An extension peer lease `10.5.<n>.0/24` of host 192.0.2.<n>, with `data` as BackendData. */
export function extLease(n: number, data: unknown = `aa:bb:cc:dd:ee:0${n}`): Lease {
  return {
    subnets: { ipv4: parseCidr(`10.5.${n}.0/24`)! },
    attrs: {
      publicIp: `192.0.2.${n}`,
      publicIpv6: null,
      backendType: 'extension',
      backendData: data,
    },
    ttlLeaseId: '7',
  };
}

/** The lease key of {@link extLease}(n). */
export const keyOf = (n: number): string => `10.5.${n}.0-24`;

/** Changes for `DataPlane.update`: peers joining (or changing). */
export const joined = (...ls: Lease[]): [string, Lease | undefined][] =>
  ls.map((l) => [formatSubnetKey(l.subnets), l]);

/** Changes for `DataPlane.update`: peers leaving. */
export const left = (...ns: number[]): [string, Lease | undefined][] =>
  ns.map((n) => [keyOf(n), undefined]);
