import { BackendConfigError, parseWireguardOptions } from '@flannel-ts/backend';

const PSK = 'mXkU7j8ZrTz0yB3iGcQ2xk9QJqYpQx3Yb0sV5nM2lEI=';

describe('parseWireguardOptions', () => {
  it("takes upstream's defaults when only Type is given", () => {
    expect(parseWireguardOptions({ Type: 'wireguard' })).toEqual({
      listenPort: 51820,
      listenPortV6: 51821,
      mtu: undefined,
      psk: undefined,
      persistentKeepaliveSeconds: 0,
      mode: 'separate',
    });
  });

  it('reads every option, names matched case-insensitively as Go does', () => {
    expect(
      parseWireguardOptions({
        listenport: 40000,
        ListenPortV6: 40001,
        MTU: 1400,
        psk: PSK,
        PersistentKeepaliveInterval: 25,
        Mode: 'auto',
      }),
    ).toEqual({
      listenPort: 40000,
      listenPortV6: 40001,
      mtu: 1400,
      psk: PSK,
      persistentKeepaliveSeconds: 25,
      mode: 'auto',
    });
  });

  it.each([
    [{ Mode: 'Auto' }, /Backend.Mode="Auto": must be one of separate, auto, ipv4, ipv6/],
    [{ Mode: 'both' }, /Backend.Mode/],
    [{ PSK: 'not-a-key' }, /Backend.PSK: must be a WireGuard key/],
    [{ PSK: 12 }, /Backend.PSK/],
    [{ ListenPort: 0 }, /Backend.ListenPort=0: must be an integer from 1 to 65535/],
    [{ ListenPortV6: '51821' }, /Backend.ListenPortV6/],
    [{ PersistentKeepaliveInterval: '25s' }, /Backend.PersistentKeepaliveInterval/],
    [{ MTU: 100 }, /Backend.MTU=100/],
  ])('refuses %j with a message naming the option', (options, message) => {
    expect(() => parseWireguardOptions(options)).toThrow(BackendConfigError);
    expect(() => parseWireguardOptions(options)).toThrow(message);
  });
});
