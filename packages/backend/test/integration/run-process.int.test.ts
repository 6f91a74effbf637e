import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitUntil } from '@flannel-ts/core/testing';
import { KILL_GRACE_MS, runProcess } from '../../src/run-process';

// runProcess's options for commands that may misbehave: real processes, a temporary directory.

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ft-run-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** True while `pid` is a live process (a zombie waiting to be reaped counts as gone). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('runProcess', () => {
  it('sends stderr down stdout in the order written with mergeStderr', async () => {
    const r = await runProcess('sh', ['-c', 'echo one; echo two >&2; echo three'], {
      mergeStderr: true,
    });
    expect(r).toEqual({ exitCode: 0, stdout: 'one\ntwo\nthree\n', stderr: '' });
  });

  it('keeps a failing binary’s exit status with mergeStderr', async () => {
    const r = await runProcess('sh', ['-c', 'echo nope >&2; exit 3'], { mergeStderr: true });
    expect(r).toEqual({ exitCode: 3, stdout: 'nope\n', stderr: '' });
  });

  it('adds extraEnv to this process’s environment', async () => {
    const r = await runProcess('sh', ['-c', 'echo "$FT_EXTRA:$PATH"'], {
      extraEnv: { FT_EXTRA: 'set' },
    });
    expect(r.stdout).toBe(`set:${process.env['PATH']}\n`);
  });

  it('kills a process group that runs past the timeout, children too', async () => {
    const pidFile = join(dir, 'child.pid');
    const r = await runProcess('sh', ['-c', `sleep 30 & echo $! > ${pidFile}; wait`], {
      timeoutMs: 200,
      processGroup: true,
    });
    expect(r).toMatchObject({ exitCode: undefined, signal: 'SIGTERM', timedOut: true });
    expect(running(Number(readFileSync(pidFile, 'utf8')))).toBe(false);
  });

  it('follows a SIGTERM that is ignored with a SIGKILL', async () => {
    const pidFile = join(dir, 'child.pid');
    const started = Date.now();
    const r = await runProcess(
      'sh',
      ['-c', `trap '' TERM; sleep 30 & echo $! > ${pidFile}; wait`],
      { timeoutMs: 100, processGroup: true },
    );
    expect(r).toMatchObject({ signal: 'SIGKILL', timedOut: true });
    expect(Date.now() - started).toBeGreaterThanOrEqual(100 + KILL_GRACE_MS);
    expect(running(Number(readFileSync(pidFile, 'utf8')))).toBe(false);
  });

  it('rejects with an AbortError and kills the group when the signal aborts', async () => {
    const pidFile = join(dir, 'child.pid');
    const abort = new AbortController();
    const run = runProcess('sh', ['-c', `sleep 30 & echo $! > ${pidFile}; wait`], {
      processGroup: true,
      signal: abort.signal,
      input: '\n',
    });
    // The child has started once it wrote its pid (a read, not a guess at timing).
    const readPid = (): number => Number(readFileSync(pidFile, 'utf8'));
    await waitForFile(pidFile);
    abort.abort();
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(running(readPid())).toBe(false);
  });
});

/** Resolves once `file` exists and is not empty. */
async function waitForFile(file: string): Promise<void> {
  await waitUntil(() => {
    try {
      return readFileSync(file, 'utf8').trim() !== '';
    } catch {
      return false;
    }
  }, `${file} to be written`);
}
