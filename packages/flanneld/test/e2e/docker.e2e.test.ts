import { readFileSync } from 'node:fs';
import type { Cidr } from '@flannel-ts/core';
import { parseCidr } from '@flannel-ts/core';
import { checkDefaultBridge, createDockerodeDockerApi } from '@flannel-ts/docker/docker-api';
import { lab, meshPairs, pingOnce } from './lab-harness';

// `scripts/lab up --docker`: flanneld runs with --ip-masq --docker-opts-file, each host runs a real
// dockerd started with the DOCKER_OPTS flanneld wrote, container c<i> sits on docker0, and the
// FORWARD policy of every host is DROP (as Docker >= 1.13 may leave it).
jest.setTimeout(180_000);
const HOSTS = [1, 2, 3];
const NETWORK = '10.5.0.0/16';
const UNDERLAY_IP = '10.99.0.254'; // the underlay bridge: no route back to the flannel network
const hostIp = (h: number): string => `10.99.0.${h}`;
const MASQ_RULE = `-s ${NETWORK} ! -d 224.0.0.0/4`; // FLANNEL-POSTRTG's MASQUERADE of N's traffic
// The lab's underlay counts the echo requests it receives by source (one rule per host IP, one
// for the flannel network).
const underlayEchoes = async (source: string): Promise<number> =>
  (await lab.ruleCount('ul', 'filter', 'INPUT', `-s ${source} -p icmp`)) ?? NaN;

describe('Docker hosts on the 3-host vxlan lab: a real dockerd per host, flanneld --ip-masq', () => {
  beforeAll(async () => {
    await lab.down();
    await lab.up('vxlan', '', { docker: true });
  });
  afterAll(async () => {
    await lab.down();
  });

  it('starts each dockerd with the options flanneld wrote: --bip, --mtu and --ip-masq=false', () => {
    for (const h of HOSTS) {
      const env = lab.env(h);
      expect(env['FLANNEL_IPMASQ']).toBe('true');
      const opts = readFileSync(`/run/ftlab/h${h}/docker_opts.env`, 'utf8');
      expect(opts).toContain(
        `DOCKER_OPTS=" --bip=${env['FLANNEL_SUBNET']} --ip-masq=false --mtu=${env['FLANNEL_MTU']}"`,
      );
    }
  });

  it('puts docker0 on the leased .1 address with FLANNEL_MTU on every host', async () => {
    for (const h of HOSTS) {
      const env = lab.env(h);
      const addr = await lab.exec(`h${h}`, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'docker0']);
      const link = await lab.exec(`h${h}`, ['ip', '-o', 'link', 'show', 'dev', 'docker0']);
      expect({ h, addr: addr.split(/\s+/)[3], mtu: / mtu (\d+) /.exec(link)?.[1] }).toEqual({
        h,
        addr: env['FLANNEL_SUBNET'],
        mtu: env['FLANNEL_MTU'],
      });
      // What Docker itself reports for its default bridge agrees with the lease.
      const bridge = await createDockerodeDockerApi(lab.dockerHost(h)).inspectNetwork('bridge');
      expect(bridge).toBeDefined();
      const lease = { subnet: parseCidr(lab.subnet(h)) as Cidr, mtu: Number(env['FLANNEL_MTU']) };
      expect(checkDefaultBridge(bridge!, lease)).toEqual([]);
    }
  });

  it('connects every container to every other host’s container with the FORWARD policy DROP', async () => {
    for (const h of HOSTS) {
      const forward = await lab.exec(`h${h}`, ['iptables', '-w', '-S', 'FORWARD']);
      expect(forward.split('\n')[0]).toBe('-P FORWARD DROP');
    }
    const accepted = async (h: number): Promise<number> =>
      ((await lab.ruleCount(`h${h}`, 'filter', 'FLANNEL-FWD', `-s ${NETWORK}`)) ?? 0) +
      ((await lab.ruleCount(`h${h}`, 'filter', 'FLANNEL-FWD', `-d ${NETWORK}`)) ?? 0);
    const before = await Promise.all(HOSTS.map(accepted));
    for (const [from, to] of meshPairs(HOSTS)) {
      const code = await lab.dockerStatus(from, [
        'exec',
        `c${from}`,
        ...pingOnce(lab.containerIp(to)),
      ]);
      expect({ from, to, code }).toEqual({ from, to, code: 0 });
    }
    // Docker's own FORWARD rules come first and accept only what leaves docker0 and the replies;
    // the echo requests from other hosts were let through by FLANNEL-FWD, not by the policy.
    const after = await Promise.all(HOSTS.map(accepted));
    for (const [i, h] of HOSTS.entries()) {
      expect({ h, accepted: after[i]! - before[i]! }).toEqual({ h, accepted: HOSTS.length - 1 });
    }
  });

  it('masquerades a container’s traffic to the underlay: it arrives from the host’s IP', async () => {
    for (const h of HOSTS) {
      const masq = () => lab.ruleCount(`h${h}`, 'nat', 'FLANNEL-POSTRTG', MASQ_RULE);
      const [masq0, fromHost0, fromNetwork0] = [
        await masq(),
        await underlayEchoes(`${hostIp(h)}/32`),
        await underlayEchoes(NETWORK),
      ];
      const code = await lab.dockerStatus(h, ['exec', `c${h}`, ...pingOnce(UNDERLAY_IP)]);
      expect({ h, code }).toEqual({ h, code: 0 });
      expect((await masq())! - masq0!).toBe(1);
      expect((await underlayEchoes(`${hostIp(h)}/32`)) - fromHost0).toBe(1);
      expect((await underlayEchoes(NETWORK)) - fromNetwork0).toBe(0);
    }
  });
});
