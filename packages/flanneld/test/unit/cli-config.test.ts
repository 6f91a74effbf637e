import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FLANNELD_VERSION, GO_FLAG_SPEC, normalizeGoFlags, UsageError } from '../../src/cli';
import { describeConfig, parseConfig } from '../../src/config';
import type { Config, ParseResult } from '../../src/config';

function run(argv: readonly string[], env: Record<string, string> = {}): Config {
  const result = parseConfig({ argv, env });
  if (result.kind !== 'run') throw new Error(`expected a config, got ${JSON.stringify(result)}`);
  return result.config;
}

function exit(argv: readonly string[], env: Record<string, string> = {}) {
  const result: ParseResult = parseConfig({ argv, env });
  if (result.kind !== 'exit') throw new Error(`expected an exit, got ${JSON.stringify(result)}`);
  return result;
}

describe('parseConfig defaults', () => {
  it('match the SPEC 5.1 table (plus our own reconcile interval, log format and checksum offload)', () => {
    expect(run([])).toEqual({
      etcd: {
        endpoints: ['http://127.0.0.1:4001', 'http://127.0.0.1:2379'],
        prefix: '/coreos.com/network',
      },
      iface: [],
      ifaceRegex: [],
      subnetFile: '/run/flannel/subnet.env',
      renewMarginMinutes: 60,
      ipMasq: false,
      ipMasqFullyRandomDisable: false,
      iptablesResyncSeconds: 5,
      iptablesForwardRules: true,
      ipBlackholeRoute: false,
      healthz: { ip: '0.0.0.0', port: 0 },
      reconcileIntervalSeconds: 60,
      verbosity: 0,
      logFormat: 'text',
      vxlanChecksumOffload: 'auto',
    });
  });

  it('returns a deeply frozen config', () => {
    const config = run(['-iface', 'eth0']);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.etcd)).toBe(true);
    expect(Object.isFrozen(config.etcd.endpoints)).toBe(true);
    expect(Object.isFrozen(config.iface)).toBe(true);
    expect(Object.isFrozen(config.healthz)).toBe(true);
  });
});

describe('Go flag syntax', () => {
  it('accepts single- and double-dash flags with = and space forms', () => {
    const config = run([
      '-etcd-endpoints=https://10.0.0.1:2379,http://etcd.local:2379',
      '--etcd-prefix',
      '/my/net',
      '-public-ip',
      '192.0.2.10',
      '--subnet-lease-renew-margin=30',
      '-v',
      '10',
    ]);
    expect(config.etcd.endpoints).toEqual(['https://10.0.0.1:2379', 'http://etcd.local:2379']);
    expect(config.etcd.prefix).toBe('/my/net');
    expect(config.publicIp).toBe('192.0.2.10');
    expect(config.renewMarginMinutes).toBe(30);
    expect(config.verbosity).toBe(10);
    expect(run(['-v=4']).verbosity).toBe(4);
    expect(run(['--v', '3']).verbosity).toBe(3);
  });

  it('reads bools as Go does: bare means true, =value takes any strconv.ParseBool spelling', () => {
    expect(run(['-ip-masq']).ipMasq).toBe(true);
    expect(run(['--ip-masq=false']).ipMasq).toBe(false);
    expect(run(['-ip-masq=T']).ipMasq).toBe(true);
    expect(run(['--iptables-forward-rules=false']).iptablesForwardRules).toBe(false);
    expect(run(['--iptables-forward-rules=0', '-ip-blackhole-route=1'])).toMatchObject({
      iptablesForwardRules: false,
      ipBlackholeRoute: true,
    });
  });

  it('never lets a bool consume the next argument', () => {
    expect(() => normalizeGoFlags(['-ip-masq', 'false'], GO_FLAG_SPEC)).toThrow(
      'unexpected argument "false"',
    );
  });

  it('names the flag when a bool value is not a Go bool', () => {
    const result = exit(['--ip-masq=yes']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^invalid boolean value "yes" for -ip-masq\n/);
  });

  it('gives a value flag the next argument even when it starts with a dash', () => {
    expect(normalizeGoFlags(['-iface', '-weird', '-v', '2'], GO_FLAG_SPEC)).toEqual([
      '--iface=-weird',
      '-v',
      '2',
    ]);
  });

  it('collects a repeatable flag in order', () => {
    const config = run([
      '-iface',
      'eth1',
      '--iface=10.0.0.5',
      '-iface-regex',
      '^en',
      '-iface-regex=^eth',
    ]);
    expect(config.iface).toEqual(['eth1', '10.0.0.5']);
    expect(config.ifaceRegex).toEqual(['^en', '^eth']);
  });

  it.each([
    [['-nope'], /^flag provided but not defined: -nope\n/],
    [['-iface'], /^flag needs an argument: -iface\n/],
    [['---iface=x'], /^bad flag syntax: ---iface=x\n/],
    [['stray'], /^unexpected argument "stray"/],
    [['--', 'stray'], /^unexpected argument "stray"/],
  ])('rejects %j with exit 2, the error and the usage', (argv, message) => {
    const result = exit(argv);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toContain('Usage: flanneld');
    expect(result.stdout).toBeUndefined();
  });

  it.each([['-h'], ['-help'], ['--help']])('prints help on stdout and exits 0 for %s', (flag) => {
    const result = exit([flag]);
    expect(result).toMatchObject({ code: 0 });
    expect(result.stdout).toContain('--etcd-endpoints');
    expect(result.stdout).toContain('FLANNELD_');
  });

  it('prints the version on stderr (as upstream) and exits 0, ignoring the environment', () => {
    expect(exit(['--version'], { FLANNELD_SUBNET_LEASE_RENEW_MARGIN: 'bad' })).toEqual({
      kind: 'exit',
      code: 0,
      stderr: `${FLANNELD_VERSION}\n`,
    });
    expect(run([], { FLANNELD_VERSION: 'true' }).verbosity).toBe(0);
  });

  it('keeps the version in step with package.json', () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8')) as {
      version: string;
    };
    expect(FLANNELD_VERSION).toBe(`v${pkg.version}`);
  });

  it('reports a usage problem as a UsageError', () => {
    expect(() => normalizeGoFlags(['-x'], GO_FLAG_SPEC)).toThrow(UsageError);
  });
});

describe('FLANNELD_* environment variables', () => {
  it('apply to flags not given on the command line', () => {
    const config = run(['-etcd-prefix=/cli'], {
      FLANNELD_ETCD_PREFIX: '/env',
      FLANNELD_IFACE: 'eth9',
      FLANNELD_IPTABLES_RESYNC: '7',
      FLANNELD_SUBNET_FILE: '/tmp/subnet.env',
    });
    expect(config.etcd.prefix).toBe('/cli');
    expect(config.iface).toEqual(['eth9']);
    expect(config.iptablesResyncSeconds).toBe(7);
    expect(config.subnetFile).toBe('/tmp/subnet.env');
  });

  it('parse bools properly, so FLANNELD_IP_MASQ=false means false', () => {
    expect(run([], { FLANNELD_IP_MASQ: 'false' }).ipMasq).toBe(false);
    expect(run([], { FLANNELD_IP_MASQ: 'true' }).ipMasq).toBe(true);
    expect(run([], { FLANNELD_IPTABLES_FORWARD_RULES: 'false' }).iptablesForwardRules).toBe(false);
  });

  it('give a repeatable flag a single value, commas and all', () => {
    expect(run([], { FLANNELD_IFACE: 'eth0,eth1' }).iface).toEqual(['eth0,eth1']);
  });

  it('are ignored when empty, as upstream does', () => {
    expect(run([], { FLANNELD_ETCD_PREFIX: '' }).etcd.prefix).toBe('/coreos.com/network');
  });

  it('name the variable when its value is invalid', () => {
    const result = exit([], { FLANNELD_IP_MASQ: 'maybe', FLANNELD_HEALTHZ_PORT: '70000' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('invalid value "maybe" for FLANNELD_IP_MASQ');
    expect(result.stderr).toContain('invalid value "70000" for FLANNELD_HEALTHZ_PORT');
  });
});

describe('validation', () => {
  it('reports every error at once', () => {
    const result = exit([
      '--etcd-endpoints=127.0.0.1:2379,http://ok:2379,ftp://x:1',
      '--subnet-lease-renew-margin=1440',
      '--public-ip=2001:db8::1',
      '--public-ipv6=10.0.0.1',
      '--iface-can-reach=nowhere',
      '--iface-regex=(',
      '--iptables-resync=0',
      '--healthz-ip=localhost',
      '--reconcile-interval=0',
      '--log-format=xml',
      '-v=-1',
      '--iface=',
    ]);
    expect(result.code).toBe(2);
    const lines = (result.stderr ?? '').split('\n\n')[0]!.split('\n');
    expect(lines).toEqual([
      expect.stringMatching(/^invalid value "127.0.0.1:2379" for --etcd-endpoints: not an http/),
      expect.stringMatching(/^invalid value "ftp:\/\/x:1" for --etcd-endpoints/),
      expect.stringMatching(/^invalid value "" for --iface: /),
      expect.stringMatching(
        /^invalid value "\(" for --iface-regex: not a valid regular expression/,
      ),
      expect.stringMatching(/^invalid value "nowhere" for --iface-can-reach: not an IP address/),
      'invalid value "2001:db8::1" for --public-ip: not an IPv4 address',
      'invalid value "10.0.0.1" for --public-ipv6: not an IPv6 address',
      expect.stringMatching(/^invalid value "localhost" for --healthz-ip: not an IP address/),
      expect.stringMatching(
        /^invalid value "1440" for --subnet-lease-renew-margin: must be 1\.\.1439/,
      ),
      expect.stringMatching(/^invalid value "0" for --iptables-resync: must be at least 1/),
      expect.stringMatching(/^invalid value "0" for --reconcile-interval: must be at least 1/),
      expect.stringMatching(/^invalid value "-1" for -v: must be at least 0/),
      'invalid value "xml" for --log-format: must be text or json',
    ]);
  });

  it('takes --vxlan-checksum-offload auto, on or off, from the flag or FLANNELD_VXLAN_CHECKSUM_OFFLOAD', () => {
    expect(run(['--vxlan-checksum-offload=off']).vxlanChecksumOffload).toBe('off');
    expect(run([], { FLANNELD_VXLAN_CHECKSUM_OFFLOAD: 'on' }).vxlanChecksumOffload).toBe('on');
    expect(exit(['--vxlan-checksum-offload=false']).stderr).toMatch(
      /^invalid value "false" for --vxlan-checksum-offload: must be auto, on or off\n/,
    );
  });

  it('rejects a non-integer where a number is expected', () => {
    expect(exit(['--iptables-resync=5s']).stderr).toMatch(
      /^invalid value "5s" for --iptables-resync: not an integer\n/,
    );
  });

  it('accepts the edges of the renew margin range', () => {
    expect(run(['--subnet-lease-renew-margin=1']).renewMarginMinutes).toBe(1);
    expect(run(['--subnet-lease-renew-margin=1439']).renewMarginMinutes).toBe(1439);
    expect(exit(['--subnet-lease-renew-margin=0']).stderr).toContain('1..1439');
  });

  it('requires the etcd client certificate and key together', () => {
    expect(exit(['--etcd-certfile=/c.pem']).stderr).toContain(
      '--etcd-certfile and --etcd-keyfile must be given together',
    );
    expect(run(['--etcd-certfile=/c.pem', '--etcd-keyfile=/k.pem']).etcd).toMatchObject({
      certFile: '/c.pem',
      keyFile: '/k.pem',
    });
  });

  it.each([['--kube-subnet-mgr'], ['--kube-api-url=https://k8s:6443'], ['-kubeconfig-file=/x']])(
    'accepts but refuses the Kubernetes-only flag %s (etcd mode only)',
    (flag) => {
      const result = exit([flag]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(
        /Kubernetes mode is not supported; flannel-ts runs in etcd mode only/,
      );
    },
  );

  it('refuses FLANNELD_KUBE_SUBNET_MGR=true from the environment too', () => {
    expect(exit([], { FLANNELD_KUBE_SUBNET_MGR: 'true' }).stderr).toMatch(
      /^FLANNELD_KUBE_SUBNET_MGR: Kubernetes mode is not supported/,
    );
  });

  it('accepts klog compatibility flags and ignores them', () => {
    expect(run(['-vmodule=main=2', '-log_backtrace_at', 'main.go:10']).verbosity).toBe(0);
  });
});

describe('settings accepted but not acted on', () => {
  const warnings = (argv: readonly string[], env: Record<string, string> = {}) => {
    const r = parseConfig({ argv, env });
    if (r.kind !== 'run') throw new Error(`expected a run, got exit: ${r.stderr ?? ''}`);
    return r.warnings;
  };

  it('are none for a plain configuration', () => {
    expect(warnings(['--iface=eth0'], { FLANNELD_IP_MASQ: 'true', PATH: '/bin' })).toEqual([]);
  });

  it('are each named at start-up: klog flags, Kubernetes variables, unknown FLANNELD_ variables', () => {
    expect(
      warnings(['-vmodule=main=2'], {
        FLANNELD_KUBE_API_URL: 'https://10.0.0.1:6443',
        FLANNELD_KUBECONFIG_FILE: '/etc/kubeconfig',
        FLANNELD_IFACES: 'eth0',
        FLANNELD_LOG_BACKTRACE_AT: 'main.go:1',
      }),
    ).toEqual([
      "--vmodule is accepted for compatibility with upstream's logging flags and ignored",
      'FLANNELD_IFACES is not a flanneld variable and is ignored (check its spelling; flags are listed by flanneld --help)',
      'FLANNELD_KUBECONFIG_FILE is ignored: flannel-ts runs in etcd mode only (Kubernetes mode is not supported)',
      'FLANNELD_KUBE_API_URL is ignored: flannel-ts runs in etcd mode only (Kubernetes mode is not supported)',
      "FLANNELD_LOG_BACKTRACE_AT is accepted for compatibility with upstream's logging flags and ignored",
    ]);
  });
});

describe('describeConfig', () => {
  it('lists every setting but never the etcd password', () => {
    const config = run(['--etcd-username=flannel', '--etcd-password=s3cret']);
    const described = describeConfig(config);
    expect(JSON.stringify(described)).not.toContain('s3cret');
    expect(described).toMatchObject({
      etcd: { username: 'flannel', password: '<redacted>' },
      subnetFile: '/run/flannel/subnet.env',
      ipMasq: false,
    });
    expect(Object.keys(described).sort()).toEqual(Object.keys(config).sort());
  });

  it('does not invent a password when none is set', () => {
    expect(describeConfig(run([]))).not.toHaveProperty('etcd.password');
  });
});
