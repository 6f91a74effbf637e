import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { waitUntil } from '@flannel-ts/core/testing';

// The built seam: this test kills the Node process that owns the child, so the child must be
// started by a separate Node process (the test command builds before the integration tests).
const SEAM = resolve(__dirname, '../../dist/kernel/child-process.js');

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('createSpawnChild', () => {
  it('starts children that die with their owner, even one that reads no stdin (ip monitor)', async () => {
    expect(existsSync(SEAM)).toBe(true);
    // An owner process that starts `ip monitor` through the seam and prints the child's pid.
    const owner = spawn(
      process.execPath,
      [
        '-e',
        `const { createSpawnChild } = require(${JSON.stringify(SEAM)});
         const h = createSpawnChild()('ip', ['monitor', 'link'], {
           stdout() {}, stderr() {}, exit() {},
         });
         process.stdout.write(String(h.pid) + '\\n');
         setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    owner.stdout.on('data', (d: Buffer) => (out += d.toString()));
    let monitorPid = 0;
    try {
      await waitUntil(() => /^\d+\n/.test(out), 'the owner to report its child');
      monitorPid = Number(out.trim());
      await waitUntil(() => alive(monitorPid), 'ip monitor to run');
      owner.kill('SIGKILL');
      await waitUntil(() => !alive(monitorPid), 'ip monitor to die with its owner', 5000);
    } finally {
      owner.kill('SIGKILL');
      if (monitorPid > 0 && alive(monitorPid)) process.kill(monitorPid, 'SIGKILL');
    }
  });
});
