import {
  MAC2,
  MAC3,
  fdb,
  joined,
  lease,
  left,
  neigh,
  onlyPeers,
  route,
  setup,
} from './kernel-table-fixtures';

describe('KernelTable: peer changes', () => {
  it('applies a joining peer’s FDB entry, neighbour and route, in that order', async () => {
    const { kernel, table } = setup();

    table.update(joined(lease(2)));
    const report = await table.apply();

    expect(kernel.calls).toEqual([
      [
        { op: 'replace-fdb', entry: { mac: MAC2, dst: '192.0.2.12', dev: 'flannel.1' } },
        { op: 'replace-neighbour', entry: { ip: '10.5.2.0', mac: MAC2, dev: 'flannel.1' } },
        {
          op: 'replace-route',
          entry: { dst: '10.5.2.0/24', gateway: '10.5.2.0', dev: 'flannel.1', onlink: true },
        },
      ],
    ]);
    expect(report).toEqual({ changes: 3, repairs: 0, failures: [] });
    expect(kernel.snapshot).toEqual(onlyPeers(2));
    expect(table.peerCounts).toEqual({ programmed: 1, skipped: [] });
  });

  it('applies just the entries of the peer that changed, however many are programmed', async () => {
    const { kernel, table } = setup();
    table.update(joined(lease(2), lease(3)));
    await table.apply();

    table.update(joined(lease(4)));
    await table.apply();

    expect(kernel.lines[1]).toEqual([
      'fdb replace aa:bb:cc:dd:ee:04 dev flannel.1 dst 192.0.2.14 self permanent',
      'neigh replace 10.5.4.0 lladdr aa:bb:cc:dd:ee:04 dev flannel.1 nud permanent',
      'route replace 10.5.4.0/24 via 10.5.4.0 dev flannel.1 onlink',
    ]);
    expect(kernel.snapshot).toEqual(onlyPeers(2, 3, 4));
  });

  it('sends nothing when nothing is dirty', async () => {
    const { kernel, table } = setup();
    table.update(joined(lease(2)));
    await table.apply();
    expect(table.pending).toBe(false);

    await expect(table.apply()).resolves.toEqual({ changes: 0, repairs: 0, failures: [] });

    expect(kernel.calls).toHaveLength(1);
  });

  it('sends nothing when a peer is announced again unchanged', async () => {
    const { kernel, table } = setup();
    table.update(joined(lease(2)));
    await table.apply();

    table.update(joined(lease(2)));
    await table.apply();

    expect(kernel.calls).toHaveLength(1);
  });

  it('deletes the entries of a peer that left, route first', async () => {
    const { kernel, table } = setup();
    table.update(joined(lease(2), lease(3)));
    await table.apply();

    table.update(left(lease(2)));
    const report = await table.apply();

    expect(kernel.lines[1]).toEqual([
      'route del 10.5.2.0/24 via 10.5.2.0 dev flannel.1 onlink',
      'neigh del 10.5.2.0 dev flannel.1',
      'fdb del aa:bb:cc:dd:ee:02 dev flannel.1 dst 192.0.2.12 self',
    ]);
    expect(report).toEqual({ changes: 3, repairs: 0, failures: [] });
    expect(kernel.snapshot).toEqual(onlyPeers(3));
    expect(table.peerCounts.programmed).toBe(1);
  });

  it('replaces the FDB entry and neighbour of a peer whose VTEP MAC changed, and deletes the old FDB entry', async () => {
    const { kernel, table } = setup();
    table.update(joined(lease(2, MAC2)));
    await table.apply();

    table.update(joined(lease(2, MAC3)));
    await table.apply();

    expect(kernel.lines[1]).toEqual([
      'fdb replace aa:bb:cc:dd:ee:03 dev flannel.1 dst 192.0.2.12 self permanent',
      'neigh replace 10.5.2.0 lladdr aa:bb:cc:dd:ee:03 dev flannel.1 nud permanent',
      'fdb del aa:bb:cc:dd:ee:02 dev flannel.1 dst 192.0.2.12 self',
    ]);
    expect(kernel.snapshot).toEqual({
      routes: [route(2)],
      neighbours: [neigh(2, MAC3)],
      fdb: [fdb(2, MAC3)],
      blackholes: [],
    });
  });

  it('re-applies every desired entry after invalidate()', async () => {
    const { kernel, table } = setup();
    table.update(joined(lease(2), lease(3)));
    await table.apply();
    kernel.state.routes.clear(); // the device was rebuilt: the kernel lost everything on it
    kernel.state.neighbours.clear();
    kernel.state.fdb.clear();

    table.invalidate();
    expect(table.pending).toBe(true);
    await table.apply();

    expect(kernel.lines[1]).toEqual([
      'fdb replace aa:bb:cc:dd:ee:02 dev flannel.1 dst 192.0.2.12 self permanent',
      'fdb replace aa:bb:cc:dd:ee:03 dev flannel.1 dst 192.0.2.13 self permanent',
      'neigh replace 10.5.2.0 lladdr aa:bb:cc:dd:ee:02 dev flannel.1 nud permanent',
      'neigh replace 10.5.3.0 lladdr aa:bb:cc:dd:ee:03 dev flannel.1 nud permanent',
      'route replace 10.5.2.0/24 via 10.5.2.0 dev flannel.1 onlink',
      'route replace 10.5.3.0/24 via 10.5.3.0 dev flannel.1 onlink',
    ]);
    expect(kernel.snapshot).toEqual(onlyPeers(2, 3));
  });

  it('drops the peers a new listing leaves out', async () => {
    const { kernel, table } = setup();
    table.replacePeers([lease(2), lease(3)]);
    await table.apply();

    table.replacePeers([lease(3), lease(4)]);
    await table.apply();

    expect(kernel.snapshot).toEqual(onlyPeers(3, 4));
    expect(table.peerCounts.programmed).toBe(2);
  });

  it('reports peers without a VtepMAC as skipped, warns once, and programs nothing for them', async () => {
    const { kernel, table, logger } = setup();

    table.update(joined(lease(2), lease(3, null)));
    table.update(joined(lease(3, null)));
    table.replacePeers([lease(2), lease(3, null)]);
    await table.apply();

    expect(table.peerCounts).toEqual({ programmed: 1, skipped: ['10.5.3.0/24 (192.0.2.13)'] });
    const warnings = logger.lines.filter((l) => l.level === 'warn');
    expect(warnings).toEqual([{ level: 'warn', message: 'skipping peer' }]);
    expect(logger.fields[logger.lines.indexOf(warnings[0]!)]).toEqual({
      peer: '10.5.3.0/24 (192.0.2.13)',
      reason: 'its lease has no valid BackendData.VtepMAC',
    });
    expect(kernel.snapshot).toEqual(onlyPeers(2));

    table.update(left(lease(3, null)));
    expect(table.peerCounts.skipped).toEqual([]);
  });

  it('deletes the entries of a peer whose lease loses its VtepMAC, and reports it skipped', async () => {
    const { kernel, table } = setup();
    table.update(joined(lease(2)));
    await table.apply();

    table.update(joined(lease(2, null)));
    await table.apply();

    expect(kernel.snapshot).toEqual(onlyPeers());
    expect(table.peerCounts).toEqual({ programmed: 0, skipped: ['10.5.2.0/24 (192.0.2.12)'] });
  });
});
