import { checksumOffloadDecision, kernelHasChecksumBug } from '@flannel-ts/backend';

describe('kernelHasChecksumBug', () => {
  it.each([
    ['5.7.0', false],
    ['6.1.0-27-amd64', false],
    ['5.6.12', true],
    ['5.6.13', false],
    ['5.5.19', true],
    ['5.4.0-150-generic', true],
    ['5.4.41', false],
    ['5.4.290', false],
    ['4.19.122', true],
    ['4.19.123', false],
    ['4.18.0-553.el8_10.x86_64', true],
    ['4.14.180', true],
    ['4.14.181', false],
    ['3.10.0-1160.el7.x86_64', true],
  ])('%s: %s', (release, broken) => {
    expect(kernelHasChecksumBug(release)).toBe(broken);
  });

  it('cannot tell from a release it does not understand', () => {
    expect(kernelHasChecksumBug('unknown')).toBeUndefined();
  });
});

describe('checksumOffloadDecision', () => {
  it('auto turns offload off on a kernel with the bug, saying which kernel and how to keep it', () => {
    const decision = checksumOffloadDecision('auto', '5.4.0-150-generic');
    expect(decision?.on).toBe(false);
    expect(decision?.why).toMatch(
      /^kernel 5\.4\.0-150-generic corrupts VXLAN checksums .*--vxlan-checksum-offload=on keeps offload$/,
    );
  });

  it('auto leaves the device alone on a fixed kernel, or one it cannot place', () => {
    expect(checksumOffloadDecision('auto', '6.1.0-27-amd64')).toBeUndefined();
    expect(checksumOffloadDecision('auto', 'unknown')).toBeUndefined();
  });

  it('on and off set it whatever the kernel', () => {
    expect(checksumOffloadDecision('off', '6.1.0')).toEqual({
      on: false,
      why: '--vxlan-checksum-offload=off',
    });
    expect(checksumOffloadDecision('on', '4.19.1')).toEqual({
      on: true,
      why: '--vxlan-checksum-offload=on',
    });
  });
});
