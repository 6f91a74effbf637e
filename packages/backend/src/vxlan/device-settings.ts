import { errorMessage } from '@flannel-ts/core';
import type { BackendContext } from '../backend';
import { TX_CHECKSUM_FEATURE, checksumOffloadDecision } from './checksum-offload';
import type { ChecksumOffloadDecision } from './checksum-offload';

/** Applies the settings of a VXLAN device that are not link attributes (iproute2 sets none). */
export type SettleDevice = (device: string, signal?: AbortSignal) => Promise<void>;

/**
 * What the agent sets on each VXLAN device it creates, re-creates or finds at start, besides what
 * `ip link add` sets: `accept_ra` 0 (as upstream) and, when `--vxlan-checksum-offload` says so for
 * this kernel, TX checksum offload. Neither failure stops the agent: each is a warning that says
 * what goes wrong without the setting and what to do.
 */
export function deviceSettings(ctx: BackendContext): SettleDevice {
  const offload = ctx.vxlanChecksumOffload
    ? checksumOffloadDecision(ctx.vxlanChecksumOffload.mode, ctx.vxlanChecksumOffload.kernelRelease)
    : undefined;
  return async (device, signal) => {
    await refuseRouterAdvertisements(ctx, device);
    if (offload) await setChecksumOffload(ctx, device, offload, signal);
  };
}

/**
 * Sets `accept_ra` 0, as upstream does, so that no router advertisement reaching the device through
 * the overlay gives the host an IPv6 address or default route. A host without IPv6 has no such file:
 * nothing to refuse. Upstream ignores any failure; we warn.
 */
async function refuseRouterAdvertisements(ctx: BackendContext, device: string): Promise<void> {
  const key = `net/ipv6/conf/${device}/accept_ra`;
  await ctx.runners.sysctl?.set(key, '0').catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    ctx.logger.warn(
      'could not turn off IPv6 router advertisements on the VXLAN device; it may take addresses or routes from them',
      { device, sysctl: key, error: errorMessage(err) },
    );
  });
}

async function setChecksumOffload(
  ctx: BackendContext,
  device: string,
  offload: ChecksumOffloadDecision,
  signal: AbortSignal | undefined,
): Promise<void> {
  const state = offload.on ? 'on' : 'off';
  const fields = { device, feature: TX_CHECKSUM_FEATURE, why: offload.why };
  try {
    if (!ctx.runners.ethtool) throw new Error('this agent has no ethtool runner');
    await ctx.runners.ethtool.set(device, TX_CHECKSUM_FEATURE, offload.on, signal);
    ctx.logger.info(`TX checksum offload ${state} on the VXLAN device`, fields);
  } catch (err) {
    if (signal?.aborted) throw err;
    ctx.logger.warn(
      `could not turn TX checksum offload ${state} on the VXLAN device; ` +
        (offload.on
          ? 'it stays as it was'
          : 'TCP and UDP between containers may stall where the kernel corrupts VXLAN checksums'),
      { ...fields, error: errorMessage(err) },
    );
  }
}
