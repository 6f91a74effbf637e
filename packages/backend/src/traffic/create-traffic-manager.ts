import { createIptablesRunner } from './iptables/iptables-runner';
import { createIptablesTrafficManager } from './iptables/iptables-traffic';
import { createNftRunner } from './nftables/nft-runner';
import { createNftablesManager } from './nftables/nftables-manager';
import type { CommandPlace } from './traffic-command';
import type { TrafficManager, TrafficMode, TrafficOptions } from './traffic-manager';

/** Options of {@link createTrafficManager}. */
export interface CreateTrafficManagerOptions extends TrafficOptions, CommandPlace {
  /** `nftables` when the network config says `"EnableNFTables": true`, as upstream v0.25+. */
  readonly mode: TrafficMode;
}

/**
 * Builds the {@link TrafficManager} for `mode` on the real binaries (in `netns` when given).
 * Both modes get both runners: each removes what the other mode left. Nothing runs until `setup`.
 */
export function createTrafficManager(options: CreateTrafficManagerOptions): TrafficManager {
  const place: CommandPlace = { netns: options.netns, searchPath: options.searchPath };
  const runners = {
    iptables: createIptablesRunner(place),
    ip6tables: createIptablesRunner({ ...place, family: 6 }),
    nft: createNftRunner(place),
  };
  return options.mode === 'nftables'
    ? createNftablesManager({ ...options, ...runners })
    : createIptablesTrafficManager({ ...options, ...runners });
}
