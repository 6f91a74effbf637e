import { formatCidr, formatIp, jsonField } from '@flannel-ts/core';
import type { SubnetRange } from '@flannel-ts/subnet';
import { formatConfigIssue, parseNetworkConfig } from '@flannel-ts/subnet';

const VXLAN = { Type: 'vxlan' };

/** Parses a config that must be valid; fails the test with the formatted issues otherwise. */
function valid(config: unknown) {
  const result = parseNetworkConfig(JSON.stringify(config));
  if (!result.ok) throw new Error(result.issues.map(formatConfigIssue).join('; '));
  return result;
}

/** The issues of a config that must be invalid. */
function issuesOf(config: unknown, asText = false) {
  const result = parseNetworkConfig(asText ? (config as string) : JSON.stringify(config));
  if (result.ok) throw new Error('expected the config to be rejected');
  return result.issues;
}

/** A range as text, for readable expectations. */
function show(range: SubnetRange | undefined) {
  if (!range) return undefined;
  const family = range.network.family;
  return {
    network: formatCidr(range.network),
    subnetLen: range.subnetLen,
    min: formatIp({ family, value: range.subnetMin }),
    max: formatIp({ family, value: range.subnetMax }),
  };
}

describe('parseNetworkConfig defaults', () => {
  it.each([
    ['10.3.0.0/16', 24, '10.3.1.0', '10.3.255.0'],
    ['10.0.0.0/8', 24, '10.0.1.0', '10.255.255.0'],
    ['10.3.0.0/22', 24, '10.3.1.0', '10.3.3.0'],
    ['10.3.0.0/23', 25, '10.3.0.128', '10.3.1.128'],
    ['10.3.0.0/25', 27, '10.3.0.32', '10.3.0.96'],
    ['10.3.0.0/28', 30, '10.3.0.4', '10.3.0.12'],
    ['255.255.0.0/16', 24, '255.255.1.0', '255.255.255.0'],
  ])('Network %s gets SubnetLen %d, SubnetMin %s, SubnetMax %s', (network, len, min, max) => {
    const { config } = valid({ Network: network, Backend: VXLAN });
    expect(show(config.ipv4)).toEqual({ network, subnetLen: len, min, max });
    expect(config.ipv6).toBeUndefined();
    expect(config.enableNftables).toBe(false);
  });

  it.each([
    ['fc00::/48', 64, 'fc00:0:0:1::', 'fc00:0:0:ffff::'],
    ['fd00::/62', 64, 'fd00:0:0:1::', 'fd00:0:0:3::'],
    ['fd00::/63', 65, 'fd00::8000:0:0:0', 'fd00:0:0:1:8000::'],
    ['fd00::/124', 126, 'fd00::4', 'fd00::c'],
  ])('IPv6Network %s gets IPv6SubnetLen %d, min %s, max %s', (network, len, min, max) => {
    const { config } = valid({
      Network: '10.3.0.0/16',
      EnableIPv6: true,
      IPv6Network: network,
      Backend: VXLAN,
    });
    expect(show(config.ipv6)).toEqual({ network, subnetLen: len, min, max });
    expect(show(config.ipv4)?.network).toBe('10.3.0.0/16');
  });

  it('masks host bits off both networks', () => {
    const { config } = valid({
      Network: '10.3.7.9/16',
      EnableIPv6: true,
      IPv6Network: 'fd00:0:0:5::1/48',
      Backend: VXLAN,
    });
    expect(show(config.ipv4)).toMatchObject({ network: '10.3.0.0/16', min: '10.3.1.0' });
    expect(show(config.ipv6)).toMatchObject({ network: 'fd00::/48', min: 'fd00:0:0:1::' });
  });

  it('keeps explicit SubnetLen, SubnetMin and SubnetMax', () => {
    const { config } = valid({
      Network: '10.3.0.0/16',
      SubnetLen: 20,
      SubnetMin: '10.3.16.0',
      SubnetMax: '10.3.32.0',
      EnableIPv6: true,
      IPv6Network: 'fd00::/48',
      IPv6SubnetLen: 56,
      IPv6SubnetMin: 'fd00:0:0:100::',
      IPv6SubnetMax: 'fd00:0:0:200::',
      Backend: VXLAN,
    });
    expect(show(config.ipv4)).toEqual({
      network: '10.3.0.0/16',
      subnetLen: 20,
      min: '10.3.16.0',
      max: '10.3.32.0',
    });
    expect(show(config.ipv6)).toEqual({
      network: 'fd00::/48',
      subnetLen: 56,
      min: 'fd00:0:0:100::',
      max: 'fd00:0:0:200::',
    });
  });

  it('uses the default range for a SubnetLen given explicitly', () => {
    const { config } = valid({ Network: '10.3.0.0/16', SubnetLen: 20, Backend: VXLAN });
    expect(show(config.ipv4)).toMatchObject({ min: '10.3.16.0', max: '10.3.240.0' });
  });

  it('treats the all-zeros address as unset, as Go does, and null as absent', () => {
    const { config } = valid({
      Network: '10.3.0.0/16',
      SubnetMin: '0.0.0.0',
      SubnetMax: null,
      SubnetLen: null,
      EnableIPv4: null,
      EnableIPv6: true,
      IPv6Network: 'fc00::/48',
      IPv6SubnetMin: '::',
      Backend: VXLAN,
    });
    expect(show(config.ipv4)).toMatchObject({ subnetLen: 24, min: '10.3.1.0', max: '10.3.255.0' });
    expect(show(config.ipv6)).toMatchObject({ min: 'fc00:0:0:1::' });
  });

  it('matches field names case-insensitively and ignores unknown fields', () => {
    const { config } = valid({
      network: '10.1.0.0/16',
      enableIPv6: false,
      SUBNETLEN: 20,
      enablenftables: true,
      backend: { type: 'host-gw' },
      Comment: 'unknown fields are fine',
    });
    expect(show(config.ipv4)).toMatchObject({ network: '10.1.0.0/16', subnetLen: 20 });
    expect(config.enableNftables).toBe(true);
    expect(config.backend.type).toBe('host-gw');
  });

  it('reads the last of several keys naming one field, as Go applies them in order', () => {
    const text = '{"Network":"10.1.0.0/16","network":"10.2.0.0/16","Backend":{"Type":"vxlan"}}';
    const result = parseNetworkConfig(text);
    expect(result.ok && show(result.config.ipv4)?.network).toBe('10.2.0.0/16');
  });

  it('supports IPv6 only, ignoring the IPv4 fields', () => {
    const { config } = valid({
      EnableIPv4: false,
      Network: '10.0.0.0/30',
      SubnetMin: 'fd00::',
      EnableIPv6: true,
      IPv6Network: 'fd00::/48',
      Backend: VXLAN,
    });
    expect(config.ipv4).toBeUndefined();
    expect(show(config.ipv6)?.network).toBe('fd00::/48');
  });

  it('ignores IPv6 fields of the other family while IPv6 is disabled, as Go accepts them', () => {
    const { config } = valid({ Network: '10.3.0.0/16', IPv6Network: '10.0.0.0/8', Backend: VXLAN });
    expect(config.ipv6).toBeUndefined();
  });

  it('warns, but accepts, a SubnetMin above SubnetMax (upstream runs out of subnets)', () => {
    const result = valid({
      Network: '10.3.0.0/16',
      SubnetMin: '10.3.9.0',
      SubnetMax: '10.3.2.0',
      Backend: VXLAN,
    });
    expect(result.warnings).toEqual(['SubnetMin is above SubnetMax: no subnet can be allocated']);
  });
});

// A valid dual-stack base; each row overrides some fields and expects exactly one issue.
const BASE = { Network: '10.3.0.0/16', Backend: VXLAN };
const BASE6 = { ...BASE, EnableIPv6: true, IPv6Network: 'fd00::/48' };

describe('parseNetworkConfig validation rules (upstream texts)', () => {
  it.each([
    [
      { Network: undefined },
      'Network',
      undefined,
      'please define a correct Network parameter in the flannel config',
    ],
    [
      { Network: '0.0.0.0/0' },
      'Network',
      '0.0.0.0/0',
      'please define a correct Network parameter in the flannel config',
    ],
    [{ SubnetLen: 31 }, 'SubnetLen', 31, 'SubnetLen must be less than /31'],
    [
      { SubnetLen: 17 },
      'SubnetLen',
      17,
      'network must be able to accommodate at least four subnets',
    ],
    [
      { Network: '10.3.0.0/29' },
      'Network',
      '10.3.0.0/29',
      'network is too small. Minimum useful network prefix is /28',
    ],
    [
      { SubnetMin: '10.4.0.0' },
      'SubnetMin',
      '10.4.0.0',
      'SubnetMin is not in the range of the Network',
    ],
    [
      { SubnetMax: '10.2.255.0' },
      'SubnetMax',
      '10.2.255.0',
      'SubnetMax is not in the range of the Network',
    ],
    [
      { SubnetMin: '10.3.1.5' },
      'SubnetMin',
      '10.3.1.5',
      'SubnetMin is not on a SubnetLen boundary: 10.3.1.5',
    ],
    [
      { SubnetMax: '10.3.2.128' },
      'SubnetMax',
      '10.3.2.128',
      'SubnetMax is not on a SubnetLen boundary: 10.3.2.128',
    ],
    [
      { IPv6Network: undefined },
      'IPv6Network',
      undefined,
      'please define a correct IPv6Network parameter in the flannel config',
    ],
    [
      { IPv6Network: '::/0' },
      'IPv6Network',
      '::/0',
      'please define a correct IPv6Network parameter in the flannel config',
    ],
    [{ IPv6SubnetLen: 127 }, 'IPv6SubnetLen', 127, 'SubnetLen must be less than /127'],
    [
      { IPv6SubnetLen: 49 },
      'IPv6SubnetLen',
      49,
      'network must be able to accommodate at least four subnets',
    ],
    [
      { IPv6Network: 'fd00::/125' },
      'IPv6Network',
      'fd00::/125',
      'IPv6Network is too small. Minimum useful network prefix is /124',
    ],
    [
      { IPv6SubnetMin: 'fd01::' },
      'IPv6SubnetMin',
      'fd01::',
      'IPv6SubnetMin is not in the range of the IPv6Network',
    ],
    [
      { IPv6SubnetMax: 'fd01::' },
      'IPv6SubnetMax',
      'fd01::',
      'IPv6SubnetMax is not in the range of the IPv6Network',
    ],
    [
      { IPv6SubnetMin: 'fd00:0:0:1::1' },
      'IPv6SubnetMin',
      'fd00:0:0:1::1',
      'IPv6SubnetMin is not on a SubnetLen boundary: fd00:0:0:1::1',
    ],
    [
      { IPv6SubnetMax: 'fd00:0:0:2:8000::' },
      'IPv6SubnetMax',
      'fd00:0:0:2:8000::',
      'IPv6SubnetMax is not on a SubnetLen boundary: fd00:0:0:2:8000::',
    ],
    [
      { EnableIPv4: false, EnableIPv6: false },
      'EnableIPv4/EnableIPv6',
      false,
      'none defined stack',
    ],
  ])('%j ⇒ %s: %s', (override, field, value, rule) => {
    expect(issuesOf({ ...BASE6, ...override })).toEqual([{ field, value, rule }]);
  });

  it('reports every issue at once, skipping checks an earlier issue makes meaningless', () => {
    const issues = issuesOf({
      Network: '10.3.0.0/16',
      SubnetLen: 31,
      SubnetMin: '10.4.0.1', // out of range; alignment is not checked without a valid SubnetLen
      EnableNFTables: 'yes',
      EnableIPv6: true,
      IPv6Network: 5,
      IPv6SubnetMin: 'fd01::', // not checked: the IPv6Network is unusable
      Backend: {},
    });
    expect(issues.map(formatConfigIssue)).toEqual([
      'EnableNFTables="yes": must be true or false',
      'SubnetLen=31: SubnetLen must be less than /31',
      'SubnetMin="10.4.0.1": SubnetMin is not in the range of the Network',
      'IPv6Network=5: must be an IPv6 CIDR string such as fd00:5::/48',
      'Backend.Type="": unknown backend type: Backend.Type must name a backend',
    ]);
  });

  it('reports both SubnetLen rules when both are broken', () => {
    const rules = issuesOf({ ...BASE, Network: '10.3.0.0/30', SubnetLen: 31 }).map((i) => i.rule);
    expect(rules).toEqual([
      'SubnetLen must be less than /31',
      'network must be able to accommodate at least four subnets',
    ]);
  });

  it('checks the range of SubnetMin and SubnetMax independently', () => {
    const issues = issuesOf({ ...BASE, SubnetMin: '10.9.0.0', SubnetMax: '10.3.0.7' });
    expect(issues.map((i) => i.rule)).toEqual([
      'SubnetMin is not in the range of the Network',
      'SubnetMax is not on a SubnetLen boundary: 10.3.0.7',
    ]);
  });
});

describe('parseNetworkConfig type errors', () => {
  const CIDR4 = 'IPv4 CIDR string such as 10.5.0.0/16';
  it.each([
    [{ SubnetLen: '24' }, 'SubnetLen', '24', 'must be a non-negative integer'],
    [{ SubnetLen: -1 }, 'SubnetLen', -1, 'must be a non-negative integer'],
    [{ SubnetLen: 24.5 }, 'SubnetLen', 24.5, 'must be a non-negative integer'],
    [{ IPv6SubnetLen: true }, 'IPv6SubnetLen', true, 'must be a non-negative integer'],
    [{ Network: 5 }, 'Network', 5, `must be an ${CIDR4}`],
    [{ Network: { ip: '10.0.0.0' } }, 'Network', { ip: '10.0.0.0' }, `must be an ${CIDR4}`],
    [
      { Network: '10.3.0.0' },
      'Network',
      '10.3.0.0',
      `please define a correct Network parameter in the flannel config: expected an ${CIDR4}`,
    ],
    [
      { Network: '010.3.0.0/16' },
      'Network',
      '010.3.0.0/16',
      `please define a correct Network parameter in the flannel config: expected an ${CIDR4}`,
    ],
    [
      { Network: 'fd00::/48' },
      'Network',
      'fd00::/48',
      `please define a correct Network parameter in the flannel config: expected an ${CIDR4}`,
    ],
    [
      { IPv6Network: '10.0.0.0/8' },
      'IPv6Network',
      '10.0.0.0/8',
      'please define a correct IPv6Network parameter in the flannel config: expected an IPv6 CIDR string such as fd00:5::/48',
    ],
    [{ SubnetMin: 5 }, 'SubnetMin', 5, 'must be an IPv4 address string such as 10.5.1.0'],
    [
      { SubnetMax: '10.3.300.0' },
      'SubnetMax',
      '10.3.300.0',
      'must be an IPv4 address string such as 10.5.1.0',
    ],
    [
      { SubnetMin: 'fd00::' },
      'SubnetMin',
      'fd00::',
      'must be an IPv4 address string such as 10.5.1.0',
    ],
    [
      { IPv6SubnetMin: '10.3.1.0' },
      'IPv6SubnetMin',
      '10.3.1.0',
      'must be an IPv6 address string such as fd00:5:0:1::',
    ],
    [{ EnableIPv6: 'true' }, 'EnableIPv6', 'true', 'must be true or false'],
    [{ EnableIPv4: 1 }, 'EnableIPv4', 1, 'must be true or false'],
    [{ EnableNFTables: 'false' }, 'EnableNFTables', 'false', 'must be true or false'],
  ])('%j ⇒ %s: %s', (override, field, value, rule) => {
    expect(issuesOf({ ...BASE6, ...override })).toEqual([{ field, value, rule }]);
  });

  it('rejects a value Go cannot decode even when its family is disabled', () => {
    expect(issuesOf({ ...BASE, IPv6Network: 5 })).toEqual([
      { field: 'IPv6Network', value: 5, rule: 'must be an IPv6 CIDR string such as fd00:5::/48' },
    ]);
  });

  it.each([
    ['not json', 'not valid JSON ('],
    ['', 'not valid JSON ('],
    ['[]', 'must be a JSON object, not an array'],
    ['null', 'must be a JSON object, not null'],
    ['"10.3.0.0/16"', 'must be a JSON object, not string'],
    ['42', 'must be a JSON object, not number'],
  ])('rejects the text %j as a whole', (text, rule) => {
    const issues = issuesOf(text, true);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ field: '(config)', value: undefined });
    expect(issues[0]?.rule.startsWith(rule)).toBe(true);
  });
});

describe('parseNetworkConfig backend', () => {
  it('defaults an absent Backend to vxlan and warns that upstream would pick udp', () => {
    const result = valid({ Network: '10.3.0.0/16' });
    expect(result.config.backend).toEqual({ type: 'vxlan', options: {} });
    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]).toMatch(/Backend is not set.*vxlan.*upstream.*udp/);
  });

  it('warns about each top-level field it does not know, by name, and not about case variants', () => {
    const { warnings } = valid({
      network: '10.3.0.0/16',
      SUBNETLEN: 26,
      Backend: { Type: 'vxlan' },
      EnableNFTable: true,
      Netwrok: '10.4.0.0/16',
    });
    expect(warnings).toEqual([
      'EnableNFTable is not a field of the flannel network config; it is ignored (check its spelling)',
      'Netwrok is not a field of the flannel network config; it is ignored (check its spelling)',
    ]);
  });

  it('lower-cases the type and keeps the whole object for the options', () => {
    const backend = { Type: 'VXLAN', vni: 4, Port: 4789 };
    const { config, warnings } = valid({ Network: '10.3.0.0/16', Backend: backend });
    expect(config.backend).toEqual({ type: 'vxlan', options: backend });
    expect(jsonField(config.backend.options, 'VNI')).toBe(4);
    expect(warnings).toEqual([]);
  });

  it.each([null, {}, { Type: '' }, { Type: null }, { VNI: 1 }])(
    'rejects Backend %j as having no type',
    (backend) => {
      expect(issuesOf({ Network: '10.3.0.0/16', Backend: backend })).toEqual([
        {
          field: 'Backend.Type',
          value: '',
          rule: 'unknown backend type: Backend.Type must name a backend',
        },
      ]);
    },
  );

  it.each(['vxlan', ['vxlan'], 5, true])('rejects Backend %j as not an object', (backend) => {
    expect(issuesOf({ Network: '10.3.0.0/16', Backend: backend })).toEqual([
      { field: 'Backend', value: backend, rule: 'must be a JSON object such as {"Type":"vxlan"}' },
    ]);
  });

  it('rejects a Type that is not a string', () => {
    expect(issuesOf({ Network: '10.3.0.0/16', Backend: { Type: 5 } })).toEqual([
      { field: 'Backend.Type', value: 5, rule: 'must be a string such as "vxlan"' },
    ]);
  });
});

describe('formatConfigIssue', () => {
  it.each([
    [
      { field: 'SubnetLen', value: 31, rule: 'SubnetLen must be less than /31' },
      'SubnetLen=31: SubnetLen must be less than /31',
    ],
    [{ field: 'Network', value: '10.3.0.0', rule: 'r' }, 'Network="10.3.0.0": r'],
    [{ field: 'Network', value: undefined, rule: 'r' }, 'Network: r'],
    [{ field: 'Backend', value: null, rule: 'r' }, 'Backend=null: r'],
    [{ field: 'SubnetMin', value: 167837952n, rule: 'r' }, 'SubnetMin="167837952": r'],
    [{ field: 'Backend', value: 'x'.repeat(100), rule: 'r' }, `Backend="${'x'.repeat(58)}…: r`],
  ])('formats %j', (issue, text) => {
    expect(formatConfigIssue(issue)).toBe(text);
  });
});
