#!/usr/bin/env bash
# Prepares a fresh Debian machine for flannel-ts: installs the Debian packages the agent, the lab and
# the tests use (only those missing), then the npm dependencies, then builds. Safe to run again.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

have() { command -v "$1" >/dev/null 2>&1; }
need=()
[ -x /usr/bin/etcd ] || need+=(etcd-server)
have etcdctl || need+=(etcd-client)
have ip || need+=(iproute2)
have iptables || need+=(iptables)
# `nft`, for nftables mode ("EnableNFTables": true) and its tests.
have nft || need+=(nftables)
have ping || need+=(iputils-ping)
have curl || need+=(curl)
have openssl || need+=(openssl)
have shellcheck || need+=(shellcheck)
have systemd-notify || need+=(systemd)
have python3 || need+=(python3)
# Deployment checks (scripts/check-deploy.sh): vagrant validate, docker-compose config.
have vagrant || need+=(vagrant)
have docker-compose || need+=(docker-compose)
have node || need+=(nodejs npm)
# The Docker lab (scripts/lab --docker) and the dockerd tests: dockerd, containerd, runc, the CLI,
# and a static busybox to build the containers' image from (the dynamic one would lack its libc).
have dockerd || need+=(docker.io)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need+=(busybox-static)
# The wireguard backend, its tests and the lab: `wg` (wireguard-tools) configures the devices, and
# wireguard-go makes them on hosts without the kernel module (this project's machines);
# tcpdump is the lab's underlay capture (--backend wireguard).
have wg || need+=(wireguard-tools)
have wireguard-go || need+=(wireguard-go)
have tcpdump || need+=(tcpdump)
# ethtool: --vxlan-checksum-offload (TX checksum offload on the VXLAN devices) and its tests.
have ethtool || need+=(ethtool)

if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: these Debian packages are missing: ${need[*]}; run as root (or sudo) to install them" >&2
    exit 1
  fi
  echo "setup: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

cd "$repo"
# Install from the lock file when node_modules is missing or older than it. `npm ci`, not
# `npm install`: it installs exactly the locked versions and never rewrites package-lock.json, so a
# fresh clone stays clean. It refuses a lock file out of sync with package.json; the committed one
# lists every platform's optional bindings (jest's unrs-resolver), as `npm install` writes them, so
# after changing dependencies commit the lock file `npm install` leaves.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci (from package-lock.json)"
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "setup: building"
npm run --silent build
