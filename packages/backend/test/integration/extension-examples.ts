/**
 * The two examples of upstream's extension documentation, verbatim (flannel
 * Documentation/extension.md at cdf76059, "Simple example (host-gw)" and "Complex example
 * (vxlan)"): the `Backend` objects of their network configs, Network 10.0.0.0/16 and
 * 10.50.0.0/16. They run `ip` and `bridge` on the host, so tests run them in a throwaway network
 * namespace, or adapt them.
 */
export const HOST_GW_EXAMPLE = {
  Type: 'extension',
  SubnetAddCommand: 'ip route add "$SUBNET" via "$PUBLIC_IP"',
  SubnetRemoveCommand: 'ip route del "$SUBNET" via "$PUBLIC_IP"',
} as const;

/** See {@link HOST_GW_EXAMPLE}. */
export const VXLAN_EXAMPLE = {
  Type: 'extension',
  PreStartupCommand:
    'export VNI=1; export IF_NAME=flannel-vxlan; ip link del "$IF_NAME" 2>/dev/null; ip link add "$IF_NAME" type vxlan id "$VNI" dstport 8472 && cat "/sys/class/net/${IF_NAME}/address"',
  PostStartupCommand:
    'export IF_NAME=flannel-vxlan; export SUBNET_IP=$(echo "$SUBNET" | cut -d\'/\' -f 1); ip addr add "${SUBNET_IP}/32" dev "$IF_NAME" && ip link set "$IF_NAME" up',
  SubnetAddCommand:
    'export SUBNET_IP=$(echo "$SUBNET" | cut -d\'/\' -f 1); export IF_NAME=flannel-vxlan; read VTEP; ip route add "$SUBNET" nexthop via "$SUBNET_IP" dev "$IF_NAME" onlink && ip neigh replace "$SUBNET_IP" dev "$IF_NAME" lladdr "$VTEP" && bridge fdb add "$VTEP" dev "$IF_NAME" self dst "$PUBLIC_IP"',
} as const;

/**
 * docs/configuration.md's restart-safe version of {@link VXLAN_EXAMPLE} (ours, not upstream's): the
 * device and its MAC are kept across restarts, every command can run twice (`replace`), and a
 * remove command takes a leaving peer's entries away. The docs show this JSON; a test checks they
 * still do.
 */
export const VXLAN_RESTART_SAFE = {
  Type: 'extension',
  PreStartupCommand:
    'export VNI=1; export IF_NAME=flannel-vxlan; ip link show "$IF_NAME" >/dev/null 2>&1 || ip link add "$IF_NAME" type vxlan id "$VNI" dstport 8472 nolearning; cat "/sys/class/net/${IF_NAME}/address"',
  PostStartupCommand:
    'export IF_NAME=flannel-vxlan; export SUBNET_IP=$(echo "$SUBNET" | cut -d\'/\' -f 1); ip addr replace "${SUBNET_IP}/32" dev "$IF_NAME" && ip link set "$IF_NAME" up',
  SubnetAddCommand:
    'export SUBNET_IP=$(echo "$SUBNET" | cut -d\'/\' -f 1); export IF_NAME=flannel-vxlan; read VTEP; ip route replace "$SUBNET" nexthop via "$SUBNET_IP" dev "$IF_NAME" onlink && ip neigh replace "$SUBNET_IP" dev "$IF_NAME" lladdr "$VTEP" && bridge fdb replace "$VTEP" dev "$IF_NAME" self dst "$PUBLIC_IP"',
  SubnetRemoveCommand:
    'export SUBNET_IP=$(echo "$SUBNET" | cut -d\'/\' -f 1); export IF_NAME=flannel-vxlan; read VTEP; ip route del "$SUBNET" dev "$IF_NAME" 2>/dev/null; ip neigh del "$SUBNET_IP" dev "$IF_NAME" 2>/dev/null; bridge fdb del "$VTEP" dev "$IF_NAME" self 2>/dev/null; true',
} as const;
