import { runDockerOptsCli } from './docker-opts-cli';

/** Entry point of `flannel-docker-opts`; the checked-in bin shim exits with the returned status. */
export async function dockerOptsMain(): Promise<number> {
  const { code, stderr } = await runDockerOptsCli(process.argv.slice(2), process.env);
  if (stderr) process.stderr.write(stderr);
  return code;
}
