import { runDockerCheckCli } from './docker-check-cli';
import { runDockerOptsCli } from './docker-opts-cli';
import { createDockerodeDockerApi } from './dockerode-docker-api';

/** Entry point of `flannel-docker-opts`; the checked-in bin shim exits with the returned status. */
export async function dockerOptsMain(): Promise<number> {
  const { code, stderr } = await runDockerOptsCli(process.argv.slice(2), process.env);
  if (stderr) process.stderr.write(stderr);
  return code;
}

/** Entry point of `flannel-docker-check`; the checked-in bin shim exits with the returned status. */
export async function dockerCheckMain(): Promise<number> {
  const r = await runDockerCheckCli(process.argv.slice(2), process.env, createDockerodeDockerApi);
  if (r.stdout) process.stdout.write(r.stdout);
  if (r.stderr) process.stderr.write(r.stderr);
  return r.code;
}
