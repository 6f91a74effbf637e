import { FlannelError, parseCidr } from '@flannel-ts/core';
import type { Cidr, Clock, Lease } from '@flannel-ts/core';
import { createRecordingLogger } from '@flannel-ts/core/testing';
import type { Backend, BackendLeaseData, DataPlane } from '@flannel-ts/backend';
import { startDataPlane } from '../../src/start-data-plane';

const clock: Clock = { now: () => 0, sleep: () => Promise.resolve() };
const network = parseCidr('10.5.0.0/16') as Cidr;
const own = {} as Lease;
const advertised: BackendLeaseData = { backendType: 'vxlan', backendData: { VtepMAC: 'aa' } };
const raced = () => new FlannelError('RACE', 'Address already assigned', { retryable: true });

/** A backend whose start() fails `failures` times; register() answers from `macs` in turn. */
function fakeBackend(failures: number, macs: string[] = []) {
  const calls: string[] = [];
  const backend: Backend = {
    type: 'vxlan',
    mtu: 1450,
    register: () => {
      calls.push('register');
      return Promise.resolve({
        backendType: 'vxlan',
        backendData: { VtepMAC: macs.shift() ?? 'aa' },
      });
    },
    start: () => {
      calls.push('start');
      return failures-- > 0 ? Promise.reject(raced()) : Promise.resolve({} as DataPlane);
    },
  };
  return { backend, calls };
}

describe('startDataPlane', () => {
  const options = () => ({
    clock,
    logger: createRecordingLogger(),
    signal: new AbortController().signal,
  });

  it('starts once when nothing fails', async () => {
    const { backend, calls } = fakeBackend(0);
    await startDataPlane(backend, own, { ipv4: network }, advertised, options());
    expect(calls).toEqual(['start']);
  });

  it('registers again before each retry, so the retry decides from the device as it is now', async () => {
    const { backend, calls } = fakeBackend(2);
    await expect(
      startDataPlane(backend, own, { ipv4: network }, advertised, options()),
    ).resolves.toEqual({});
    expect(calls).toEqual(['start', 'register', 'start', 'register', 'start']);
  });

  it('exits when what the lease advertises changed meanwhile, saying to restart', async () => {
    const { backend } = fakeBackend(1, ['bb']);
    await expect(
      startDataPlane(backend, own, { ipv4: network }, advertised, options()),
    ).rejects.toThrow(
      /starting the data plane failed: the vxlan device changed .*"VtepMAC":"bb".*restart flanneld/,
    );
  });
});
