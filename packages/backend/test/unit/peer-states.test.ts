import {
  FakeKernel,
  fdb,
  joined,
  lease,
  left,
  neigh,
  route,
  seen,
  setup,
} from './kernel-table-fixtures';

const key = (n: number): string => `10.5.${n}.0-24`;
const REFUSAL = 'Error: Nexthop has invalid gateway.';

describe('KernelTable.peerStates', () => {
  it('says pending until a peer’s entries are applied, then programmed', async () => {
    const { table } = setup();
    table.update(joined(lease(2), lease(3)));

    expect(table.peerStates()).toEqual([
      { key: key(2), state: 'pending' },
      { key: key(3), state: 'pending' },
    ]);
    await table.apply();
    expect(table.peerStates()).toEqual([
      { key: key(2), state: 'programmed' },
      { key: key(3), state: 'programmed' },
    ]);
  });

  it('gives the kernel’s refusal as the reason a peer is pending, until a retry takes it', async () => {
    const { kernel, table } = setup();
    kernel.refuse.set('route replace 10.5.3.0/24 via 10.5.3.0 dev flannel.1 onlink', REFUSAL);
    table.update(joined(lease(2), lease(3)));
    await table.apply();

    expect(table.peerStates()).toEqual([
      { key: key(2), state: 'programmed' },
      { key: key(3), state: 'pending', reason: REFUSAL },
    ]);
    kernel.refuse.clear();
    await table.resync();
    expect(table.peerStates()).toEqual([
      { key: key(2), state: 'programmed' },
      { key: key(3), state: 'programmed' },
    ]);
  });

  it('says pending while an entry someone deleted waits for its repair', async () => {
    const { kernel, table } = setup();
    table.update(joined(lease(2)));
    await table.apply();
    kernel.state.routes.delete(route(2).dst);

    table.observe(seen('[ROUTE]Deleted 10.5.2.0/24 via 10.5.2.0 dev flannel.1 onlink'));
    expect(table.peerStates()).toEqual([{ key: key(2), state: 'pending' }]);
    await table.apply();
    expect(table.peerStates()).toEqual([{ key: key(2), state: 'programmed' }]);
  });

  it('says programmed for a peer whose entries a full pass found in the kernel already', async () => {
    const kernel = new FakeKernel();
    kernel.state.routes.set(route(2).dst, route(2));
    kernel.state.neighbours.set(neigh(2).ip, neigh(2));
    kernel.state.fdb.set(fdb(2).mac, fdb(2));
    // A restarted agent: a new table over a kernel that holds the peer's entries.
    const { table } = setup(kernel);
    table.update(joined(lease(2)));

    const r = await table.resync();

    expect(r.changes).toBe(0);
    expect(table.peerStates()).toEqual([{ key: key(2), state: 'programmed' }]);
  });

  it('says skipped, with the backend’s reason, for a peer left out', () => {
    const { table } = setup();
    table.update(joined(lease(4, null)));

    expect(table.peerStates()).toEqual([
      {
        key: key(4),
        state: 'skipped',
        reason: 'its lease has no valid BackendData.VtepMAC',
      },
    ]);
  });

  it('forgets a peer that left', async () => {
    const { table } = setup();
    table.update(joined(lease(2), lease(4, null)));
    await table.apply();

    table.update(left(lease(2), lease(4, null)));

    expect(table.peerStates()).toEqual([]);
  });

  it('hands out the same state objects while nothing changed, and a new one when it did', async () => {
    const { table } = setup();
    table.update(joined(lease(2), lease(3), lease(4, null)));
    await table.apply();

    const before = table.peerStates();
    const after = table.peerStates();
    expect(after).not.toBe(before);
    after.forEach((s, i) => expect(s).toBe(before[i]));

    table.update(joined(lease(3, 'aa:bb:cc:dd:ee:33')));
    const changed = table.peerStates();
    expect(changed[0]).toBe(before[0]);
    expect(changed[1]).toEqual({ key: key(3), state: 'pending' });
    expect(changed[2]).toBe(before[2]);
  });
});
