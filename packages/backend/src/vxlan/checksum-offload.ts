/**
 * `--vxlan-checksum-offload`: what to do with TX checksum offload (`tx-checksum-ip-generic`) on
 * the VXLAN devices. `auto` turns it off on kernels with the netfilter bug that corrupts the outer
 * UDP checksum of VXLAN packets under masquerade with `--random-fully` (the "63-second delay":
 * receivers drop the packets) and leaves it alone elsewhere; `off` and `on` set it either way.
 */
export type ChecksumOffloadMode = 'auto' | 'on' | 'off';

export const CHECKSUM_OFFLOAD_MODES: readonly ChecksumOffloadMode[] = ['auto', 'on', 'off'];

/** The ethtool feature: VXLAN devices offer the generic one only. */
export const TX_CHECKSUM_FEATURE = 'tx-checksum-ip-generic';

/** What to set on the devices, and why (for the log); `undefined`: leave the kernel's setting. */
export interface ChecksumOffloadDecision {
  readonly on: boolean;
  readonly why: string;
}

/**
 * The releases that carry the fix (kernel commit ea64d8d6c675, "netfilter: nat: never update the
 * UDP checksum when it's 0"): 5.7, and the stable series it was backported to, from this patch on.
 */
const FIXED_STABLE: Readonly<Record<string, number>> = {
  '5.6': 13,
  '5.4': 41,
  '4.19': 123,
  '4.14': 181,
};

/** True when a kernel release (`uname -r`, e.g. `5.4.0-150-generic`) has the bug. */
export function kernelHasChecksumBug(release: string): boolean | undefined {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release);
  if (!m) return undefined;
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
  if (major > 5 || (major === 5 && minor >= 7)) return false;
  const fixedFrom = FIXED_STABLE[`${major}.${minor}`];
  return fixedFrom === undefined || patch < fixedFrom;
}

/** What `mode` means on a host running kernel `release`. */
export function checksumOffloadDecision(
  mode: ChecksumOffloadMode,
  release: string,
): ChecksumOffloadDecision | undefined {
  if (mode !== 'auto') {
    return { on: mode === 'on', why: `--vxlan-checksum-offload=${mode}` };
  }
  if (kernelHasChecksumBug(release) !== true) return undefined;
  return {
    on: false,
    why: `kernel ${release} corrupts VXLAN checksums under masquerade (fixed in 5.7, 5.6.13, 5.4.41, 4.19.123, 4.14.181); --vxlan-checksum-offload=on keeps offload`,
  };
}
