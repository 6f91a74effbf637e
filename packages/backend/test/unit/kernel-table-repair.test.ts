import {
  MAC2,
  fdb,
  joined,
  lease,
  left,
  neigh,
  onlyPeers,
  route,
  seen,
  setup,
} from './kernel-table-fixtures';

describe('KernelTable: repairs, resyncs and failures', () => {
  it('puts back an entry the monitor saw deleted, and counts a repair', async () => {
    const { kernel, table } = setup();
    table.update(joined(lease(2)));
    await table.apply();

    kernel.state.routes.delete('10.5.2.0/24');
    expect(
      table.observe(seen('[ROUTE]Deleted 10.5.2.0/24 via 10.5.2.0 dev flannel.1 onlink ')),
    ).toBe(true);
    const report = await table.apply();

    expect(kernel.lines[1]).toEqual([
      'route replace 10.5.2.0/24 via 10.5.2.0 dev flannel.1 onlink',
    ]);
    expect(report).toEqual({ changes: 1, repairs: 1, failures: [] });
    expect(kernel.snapshot).toEqual(onlyPeers(2));
  });

  it('marks nothing on the echo of what it applied', async () => {
    const { kernel, table } = setup();
    table.update(joined(lease(2)));
    await table.apply();

    const echoes = [
      seen('aa:bb:cc:dd:ee:02 dev flannel.1 dst 192.0.2.12 self permanent'),
      seen('[NEIGH]10.5.2.0 dev flannel.1 lladdr aa:bb:cc:dd:ee:02 PERMANENT '),
      seen('[ROUTE]10.5.2.0/24 via 10.5.2.0 dev flannel.1 onlink '),
    ];

    expect(echoes.map((o) => table.observe(o))).toEqual([false, false, false]);
    expect(table.pending).toBe(false);
    await expect(table.apply()).resolves.toEqual({ changes: 0, repairs: 0, failures: [] });
    expect(kernel.calls).toHaveLength(1);
  });

  it('puts back a neighbour the monitor saw replaced by a failed one', async () => {
    const { kernel, table } = setup();
    table.update(joined(lease(2)));
    await table.apply();

    expect(table.observe(seen('[NEIGH]10.5.2.0 dev flannel.1 FAILED '))).toBe(true);
    await table.apply();

    expect(kernel.lines[1]).toEqual([
      'neigh replace 10.5.2.0 lladdr aa:bb:cc:dd:ee:02 dev flannel.1 nud permanent',
    ]);
  });

  it('ignores the deletion of another remote under our FDB key', async () => {
    const { table } = setup();
    table.update(joined(lease(2)));
    await table.apply();

    expect(
      table.observe(seen('Deleted aa:bb:cc:dd:ee:02 dev flannel.1 dst 192.0.2.99 self permanent')),
    ).toBe(false);
    expect(table.pending).toBe(false);
  });

  it('does not let an apply in flight overwrite an observation made meanwhile', async () => {
    const { kernel, table } = setup();
    table.update(joined(lease(2)));
    // The route lands, then someone deletes it and the monitor says so before applyOps resolves.
    kernel.whileInFlight = () => {
      kernel.whileInFlight = undefined;
      kernel.state.routes.delete('10.5.2.0/24');
      table.observe(seen('[ROUTE]Deleted 10.5.2.0/24 via 10.5.2.0 dev flannel.1 onlink '));
    };

    await table.apply();

    expect(table.pending).toBe(true);
    const report = await table.apply();
    expect(kernel.lines[1]).toEqual([
      'route replace 10.5.2.0/24 via 10.5.2.0 dev flannel.1 onlink',
    ]);
    expect(report.repairs).toBe(1);
    expect(kernel.snapshot).toEqual(onlyPeers(2));
  });

  it('on resync, removes an entry of ours no peer explains and restores one deleted behind its back', async () => {
    const { kernel, table } = setup();
    table.update(joined(lease(2)));
    await table.apply();
    kernel.state.routes.delete('10.5.2.0/24');
    kernel.state.routes.set('10.5.9.0/24', route(9));

    const report = await table.resync();

    expect(kernel.lines[1]).toEqual([
      'route replace 10.5.2.0/24 via 10.5.2.0 dev flannel.1 onlink',
      'route del 10.5.9.0/24 via 10.5.9.0 dev flannel.1 onlink',
    ]);
    expect(report).toEqual({ changes: 2, repairs: 1, failures: [] });
    expect(kernel.snapshot).toEqual(onlyPeers(2));
  });

  it('on resync of a kernel that matches, sends nothing', async () => {
    const { kernel, table } = setup();
    table.update(joined(lease(2), lease(3)));
    await table.apply();

    await expect(table.resync()).resolves.toEqual({ changes: 0, repairs: 0, failures: [] });

    expect(kernel.calls).toHaveLength(1);
  });

  it('adopts entries already in the kernel at start-up instead of rewriting them', async () => {
    const { kernel, table } = setup();
    kernel.state.routes.set('10.5.2.0/24', route(2));
    kernel.state.neighbours.set('10.5.2.0', neigh(2));
    kernel.state.fdb.set(MAC2, fdb(2));
    table.replacePeers([lease(2), lease(3)]);

    await table.resync();

    expect(kernel.lines).toEqual([
      [
        'fdb replace aa:bb:cc:dd:ee:03 dev flannel.1 dst 192.0.2.13 self permanent',
        'neigh replace 10.5.3.0 lladdr aa:bb:cc:dd:ee:03 dev flannel.1 nud permanent',
        'route replace 10.5.3.0/24 via 10.5.3.0 dev flannel.1 onlink',
      ],
    ]);
  });

  it('retries a refused op on the next resync, not on the next apply', async () => {
    const { kernel, table } = setup();
    const routeLine = 'route replace 10.5.2.0/24 via 10.5.2.0 dev flannel.1 onlink';
    kernel.refuse.set(routeLine, 'RTNETLINK answers: Network is unreachable');
    table.update(joined(lease(2)));

    const first = await table.apply();
    expect(first.changes).toBe(2);
    expect(first.failures).toEqual([
      {
        op: { op: 'replace-route', entry: route(2) },
        message: 'RTNETLINK answers: Network is unreachable',
      },
    ]);

    expect(table.pending).toBe(false);
    await table.apply();
    expect(kernel.calls).toHaveLength(1);

    kernel.refuse.clear();
    const report = await table.resync();
    expect(kernel.lines[1]).toEqual([routeLine]);
    expect(report).toEqual({ changes: 1, repairs: 0, failures: [] });
    expect(kernel.snapshot).toEqual(onlyPeers(2));
  });

  it('counts a delete as done when the kernel says the entry is already gone', async () => {
    const { kernel, table } = setup();
    table.update(joined(lease(2)));
    await table.apply();
    kernel.state.routes.delete('10.5.2.0/24'); // gone, and no monitor told us

    table.update(left(lease(2)));
    const report = await table.apply();

    expect(report).toEqual({ changes: 3, repairs: 0, failures: [] });
    await table.resync();
    expect(kernel.calls).toHaveLength(2);
    expect(kernel.snapshot).toEqual(onlyPeers());
  });
});
