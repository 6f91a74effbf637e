/**
 * `flanneld status [--json]`: placeholder until the status command lands; says so and exits 2.
 */
export function runStatus(
  _argv: readonly string[],
  _env: Readonly<Record<string, string | undefined>>,
): Promise<number> {
  process.stderr.write('flanneld status: not implemented yet\n');
  return Promise.resolve(2);
}
