// The status command and prom-client fail to load here, as in a broken install. Importing main
// (and with it the whole agent) must still work: neither is loaded at start.
import { main } from '../../src/main';
import { ModuleLoadError, loadHealthParts } from '../../src/on-demand';

jest.mock('../../src/status/status-cli', () => {
  throw new Error("Cannot find module './status/status-cli'");
});
jest.mock('prom-client', () => {
  throw new Error("Cannot find module 'prom-client'");
});

describe('parts of flanneld that fail to load on demand', () => {
  let stdout: jest.SpyInstance;
  let stderr: jest.SpyInstance;
  beforeEach(() => {
    stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });
  afterEach(() => jest.restoreAllMocks());

  it('are not loaded by a run that does not need them', async () => {
    await expect(main(['--version'], {})).resolves.toBe(0);
    expect(stdout.mock.calls.concat(stderr.mock.calls).join('')).toContain('v0.1.0');
  });

  it('make `flanneld status` exit 1 with a line that says what could not be loaded', async () => {
    await expect(main(['status'], {})).resolves.toBe(1);
    expect(stderr).toHaveBeenCalledWith(
      "flanneld status: cannot load the status command: Cannot find module './status/status-cli'\n",
    );
  });

  it('make the health server fail with a fatal error naming prom-client', () => {
    let thrown: unknown;
    try {
      loadHealthParts();
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ModuleLoadError);
    expect(thrown).toMatchObject({
      code: 'MODULE_LOAD_FAILED',
      message:
        "cannot load the health server and its metrics (prom-client): Cannot find module 'prom-client'",
    });
  });
});
