#!/usr/bin/env bash
# Every lab node: the Debian packages flanneld and Docker need.
#   nodejs, npm        run and build flannel-ts (Debian 12 ships Node.js 18; see README.md)
#   iproute2, iptables what flanneld programs: links, routes, neighbours, FDB, iptables rules
#   docker.io          dockerd, started by install-agent.sh on the flannel subnet
#   rsync              install-agent.sh copies the synced repository with it
#   iputils-ping       for checking the overlay by hand
#   ethtool            --vxlan-checksum-offload (TX checksum offload on flannel.1)
# Safe to run again.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq \
  ca-certificates docker.io ethtool iproute2 iptables iputils-ping nodejs npm rsync >/dev/null
echo "common: node $(node --version), npm $(npm --version), $(docker --version)"
