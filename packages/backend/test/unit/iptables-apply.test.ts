import { noopLogger, parseCidr } from '@flannel-ts/core';
import type { Cidr, Clock } from '@flannel-ts/core';
import { formatRule, masqRules } from '@flannel-ts/backend';
import type { IptablesRunner } from '@flannel-ts/backend';
import {
  applyRules,
  isConflict,
  MAX_CONFLICT_ROUNDS,
} from '../../src/traffic/iptables/iptables-apply';
import { duplicatedRules } from '../../src/traffic/iptables/iptables-rules';
import { IptablesError } from '../../src/traffic/iptables/iptables-runner';

const cidr = (text: string) => parseCidr(text) as Cidr;
const rules = masqRules(cidr('10.5.0.0/16'), cidr('10.5.3.0/24'), { randomFully: false });
const jump = formatRule(rules[0]!);
const clock: Clock = { now: () => 0, sleep: () => Promise.resolve() };

/** iptables-restore's answer to a `-D` of a rule that is gone. */
const badRule = (line: number) =>
  new IptablesError({
    command: ['iptables-restore', '--noflush', '--wait'],
    exitCode: 1,
    stderr: `iptables-restore: line ${line} failed: Bad rule (does a matching rule exist in that chain?).\n`,
  });

/** A runner whose listing holds `copies` jumps; `restore` answers from `answers`, then succeeds. */
function fakeRunner(copies: () => number, answers: (Error | undefined)[]) {
  const payloads: string[] = [];
  const runner: IptablesRunner = {
    save: () =>
      Promise.resolve(['*nat', ...Array<string>(copies()).fill(jump), 'COMMIT'].join('\n')),
    restore: (payload) => {
      payloads.push(payload);
      const answer = answers.shift();
      return answer ? Promise.reject(answer) : Promise.resolve();
    },
    supportsRandomFully: () => Promise.resolve(false),
  };
  return { runner, payloads };
}

describe('duplicatedRules', () => {
  it('finds a jump listed twice and nothing else', () => {
    const listing = ['*nat', jump, jump, ...rules.slice(1).map((r) => formatRule(r)), 'COMMIT'];
    expect(duplicatedRules(rules, listing.join('\n'))).toEqual([rules[0]]);
  });

  it('finds nothing when every rule is there once', () => {
    const listing = ['*nat', ...rules.map((r) => formatRule(r)), 'COMMIT'];
    expect(duplicatedRules(rules, listing.join('\n'))).toEqual([]);
  });
});

describe('isConflict', () => {
  const payload = ['*nat', ':FLANNEL-POSTRTG - [0:0]', `-D POSTROUTING x`, '-A POSTROUTING x'].join(
    '\n',
  );

  it('is a conflict when iptables-restore rejects a -D line', () => {
    expect(isConflict(badRule(3), payload)).toBe(true);
  });

  it('reads the nf_tables wording too (seen when 40 agents start at once)', () => {
    const stderr =
      'iptables-restore: line 3: RULE_DELETE failed (No such file or directory): rule in chain POSTROUTING\n';
    const err = new IptablesError({ command: ['iptables-restore'], exitCode: 4, stderr });
    expect(isConflict(err, payload)).toBe(true);
  });

  it('is no conflict when it rejects an -A line, or for other errors', () => {
    expect(isConflict(badRule(4), payload)).toBe(false);
    expect(isConflict(new Error('line 3 failed'), payload)).toBe(false);
  });
});

describe('applyRules', () => {
  it('re-reads and recomputes the transaction when a jump it deletes vanished meanwhile', async () => {
    let copies = 2;
    const conflict = badRule(3);
    const { runner, payloads } = fakeRunner(() => copies, [conflict]);
    // The other agent's write: one copy is gone by the second read.
    const restore = runner.restore.bind(runner);
    runner.restore = (p) => restore(p).finally(() => (copies = 1));
    await applyRules(rules, [], { runner, clock, logger: noopLogger });
    expect(payloads).toHaveLength(2);
    const deletes = (p: string) => p.split('\n').filter((l) => l.startsWith('-D')).length;
    expect(payloads.map(deletes)).toEqual([2, 1]);
  });

  it('gives up after the bounded number of rounds with the last error', async () => {
    const answers = Array.from({ length: MAX_CONFLICT_ROUNDS }, () => badRule(3));
    const { runner, payloads } = fakeRunner(() => 1, answers);
    await expect(applyRules(rules, [], { runner, clock, logger: noopLogger })).rejects.toThrow(
      /line 3 failed: Bad rule/,
    );
    expect(payloads).toHaveLength(MAX_CONFLICT_ROUNDS);
  });

  it('does not retry a failure that is no conflict', async () => {
    const { runner, payloads } = fakeRunner(() => 0, [badRule(3)]);
    await expect(applyRules(rules, [], { runner, clock, logger: noopLogger })).rejects.toThrow(
      /line 3 failed/,
    );
    expect(payloads).toHaveLength(1);
  });
});
