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
 * The networks per IP family: `ipv4`, `ipv6` or both (dual stack). A family that is absent gets no
 * rules (IPv6-only hosts get no IPv4 rules).
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
   * `-t nat -A POSTROUTING … -j FLANNEL-POSTRTG` (`iptables -S` lines with their table; IPv6 ones
   * prefixed `ip6tables `), or the lines of `nft list table ip flannel-ipv4` and
   * `… ip6 flannel-ipv6`. Empty when nothing of ours is there.
   */
  inPlace(signal?: AbortSignal): Promise<string[]>;
}
