import { NFT_TABLES, renderNftDelete } from './nft-rules';
import { NftError } from './nft-runner';
import type { NftRunner } from './nft-runner';

/**
 * Deletes flannel's nftables tables (`ip flannel-ipv4`, `ip6 flannel-ipv6`) where they exist, in
 * one transaction: what iptables mode does with an earlier nftables-mode run's rules (upstream's
 * CleanUp). Resolves with the tables deleted (`ip flannel-ipv4`), empty when there were none or
 * nft is not installed (then there can be nothing of ours).
 */
export async function removeFlannelNftTables(
  runner: NftRunner,
  signal?: AbortSignal,
): Promise<string[]> {
  let present;
  try {
    present = await runner.listTables(signal);
  } catch (err) {
    if (err instanceof NftError && err.missingBinary === 'nft') return [];
    throw err;
  }
  const ours = NFT_TABLES.filter((t) =>
    present.some((p) => p.family === t.family && p.name === t.name),
  );
  if (ours.length === 0) return [];
  await runner.apply(renderNftDelete(ours), signal);
  return ours.map((t) => `${t.family} ${t.name}`);
}
