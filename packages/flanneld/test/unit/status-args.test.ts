import { parseStatusArgs, STATUS_USAGE } from '../../src/status/status-args';

describe('parseStatusArgs (flanneld status flags)', () => {
  it('reads the daemon’s flags and FLANNELD_* variables, so the unit’s environment works unchanged', () => {
    const args = parseStatusArgs(['-healthz-port', '8471', '--json'], {
      FLANNELD_ETCD_ENDPOINTS: 'https://10.0.0.1:2379',
      FLANNELD_SUBNET_FILE: '/run/ftlab/h1/subnet.env',
      FLANNELD_HEALTHZ_IP: '127.0.0.1',
    });
    expect(args).toMatchObject({
      kind: 'run',
      json: true,
      config: {
        etcd: { endpoints: ['https://10.0.0.1:2379'] },
        subnetFile: '/run/ftlab/h1/subnet.env',
        healthz: { ip: '127.0.0.1', port: 8471 },
      },
    });
  });

  it('takes -json, --json=false and a table by default', () => {
    expect(parseStatusArgs(['-json'], {})).toMatchObject({ kind: 'run', json: true });
    expect(parseStatusArgs(['--json=false'], {})).toMatchObject({ kind: 'run', json: false });
    expect(parseStatusArgs([], {})).toMatchObject({ kind: 'run', json: false });
  });

  it('lets a flag that takes a value consume the next argument, as Go does', () => {
    expect(parseStatusArgs(['--iface', '--json'], {})).toMatchObject({
      kind: 'run',
      json: false,
      config: { iface: ['--json'] },
    });
  });

  it('prints its own help on -h', () => {
    expect(parseStatusArgs(['-h'], {})).toEqual({ kind: 'exit', code: 0, stdout: STATUS_USAGE });
  });

  it('exits 2 naming the bad flag or value, with the status usage', () => {
    const unknown = parseStatusArgs(['--bogus'], {});
    expect(unknown).toMatchObject({ kind: 'exit', code: 2 });
    expect(unknown.kind === 'exit' && unknown.stderr).toMatch(
      /^flanneld status: flag provided but not defined: -bogus\n\nUsage: flanneld status/,
    );
    const port = parseStatusArgs([], { FLANNELD_HEALTHZ_PORT: 'x' });
    expect(port.kind === 'exit' && port.stderr).toMatch(
      /^flanneld status: invalid value "x" for FLANNELD_HEALTHZ_PORT: not an integer/,
    );
    expect(parseStatusArgs(['--json=maybe'], {})).toMatchObject({ kind: 'exit', code: 2 });
  });
});
