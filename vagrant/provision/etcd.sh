#!/usr/bin/env bash
# Node 1 of the lab: Debian's etcd, reachable from the other nodes, holding the flannel network config.
#
#   etcd.sh [ADVERTISE_IP] [NETWORK_CONFIG_JSON]
#
# etcd listens on ADVERTISE_IP (the private network, for the other nodes' flanneld) and on 127.0.0.1
# (for etcdctl on this node). It is a lab etcd: plain http, no authentication. Safe to run again; the
# network config is written every time.
set -euo pipefail

ip=${1:-192.168.56.11}
config=${2:-'{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}'}
readonly key=/coreos.com/network/config

export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq etcd-server etcd-client >/dev/null

# Debian's etcd.service reads ETCD_* variables from /etc/default/etcd (ETCD_NAME and ETCD_DATA_DIR keep
# the unit's defaults, so the member the package created on install is reused).
cat >/etc/default/etcd <<CONF
# Written by vagrant/provision/etcd.sh: client URLs for the flannel-ts lab.
ETCD_LISTEN_CLIENT_URLS=http://${ip}:2379,http://127.0.0.1:2379
ETCD_ADVERTISE_CLIENT_URLS=http://${ip}:2379
CONF
systemctl enable --quiet etcd
systemctl restart etcd

ectl() { ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:2379 --dial-timeout=2s "$@"; }
healthy=false
for _ in $(seq 30); do
  if ectl endpoint health >/dev/null 2>&1; then
    healthy=true
    break
  fi
  sleep 1
done
if [ "$healthy" != true ]; then
  echo "etcd: not healthy after 30 s" >&2
  journalctl -u etcd -n 20 --no-pager >&2 || true
  exit 1
fi

ectl put "$key" "$config" >/dev/null
echo "etcd: http://${ip}:2379 ready; $key = $(ectl get "$key" --print-value-only)"
