import { FlannelError } from '@flannel-ts/core';
import type { Cidr, Clock, Logger } from '@flannel-ts/core';

/** Which kernel interface holds flannel's masquerade and forward rules (`"EnableNFTables"`). */
export type TrafficMode = 'iptables' | 'nftables';

/** What one IP family's rules are built from. */
export interface FamilyNetworks {
  /** The flannel network (N in SPEC 6). */
  readonly network: Cidr;
  /** Our own lease's subnet (S in SPEC 6). */
  readonly subnet: Cidr;
  /**
   * FLANNEL_NETWORK / FLANNEL_SUBNET of the previous run (from the subnet file), whose iptables
   * masquerade rules are recycled when they differ from the current values (SPEC 6.1). nftables
   * mode needs no recycling: it replaces its tables whole.
   */
  readonly previous?: { readonly network?: Cidr; readonly subnet?: Cidr } | undefined;
}

/**
 * The networks per IP family. Only `ipv4` is implemented today; `ipv6` is here so that dual stack
 * (issue 10) adds an implementation, not a new shape. Given now, it is refused at construction.
 */
export interface TrafficFamilies {
  readonly ipv4?: FamilyNetworks | undefined;
  readonly ipv6?: FamilyNetworks | undefined;
}

/** What every {@link TrafficManager} is built from, whichever the mode. */
export interface TrafficOptions {
  readonly families: TrafficFamilies;
  /** `--ip-masq`: the masquerade rules (SPEC 6.1 / 6.3). */
  readonly ipMasq: boolean;
  /** `--iptables-forward-rules`: the forward-accept rules (SPEC 6.2 / 6.3). */
  readonly forwardRules: boolean;
  /** `--ip-masq-fully-random-disable`: never ask for fully random source ports. */
  readonly randomFullyDisable: boolean;
  readonly logger: Logger;
  /** Paces retries after a conflict with another writer; the system clock by default. */
  readonly clock?: Clock | undefined;
}

/**
 * flannel's traffic rules (masquerade and forward accept) in one kernel interface, with upstream's
 * pkg/trafficmngr as the model: two implementations, iptables and nftables, that each also remove
 * what the other one left (an agent switched between modes must not keep both sets).
 *
 * There is deliberately no teardown: like upstream, the rules stay when the agent stops, so
 * traffic keeps flowing across restarts.
 */
export interface TrafficManager {
  readonly mode: TrafficMode;
  /**
   * Removes the other mode's leftovers, then installs this mode's rules in one transaction.
   * Rejects with IptablesError / NftError, whose disposition says whether trying again can help.
   */
  setup(signal?: AbortSignal): Promise<void>;
  /**
   * Resync: compares the rules in place with what setup installed and, when anything is missing,
   * duplicated or changed, re-applies the whole set. Resolves with how many rules it put back or
   * removed (at least 1 whenever it changed anything, e.g. re-created an empty table); 0 when all
   * was in place. Also finishes a cleanup of the other mode that failed during setup.
   */
  ensure(signal?: AbortSignal): Promise<number>;
  /**
   * flannel's rules in place now, read live, one text line each, as the tools print them:
   * `-t nat -A POSTROUTING … -j FLANNEL-POSTRTG` (`iptables -S` lines with their table), or the
   * lines of `nft list table ip flannel-ipv4`. Empty when nothing of ours is there.
   */
  inPlace(signal?: AbortSignal): Promise<string[]>;
}

/**
 * Refuses IPv6 networks until dual stack lands (issue 10): silently installing IPv4 rules only
 * would leave IPv6 container traffic un-masqueraded without a word.
 * @internal
 */
export function refuseIpv6(families: TrafficFamilies): void {
  if (families.ipv6 !== undefined) {
    throw new FlannelError(
      'TRAFFIC_IPV6_UNSUPPORTED',
      'IPv6 masquerade and forward rules are not implemented yet (dual stack is issue 10): ' +
        'build the traffic manager with the IPv4 network only',
    );
  }
}
