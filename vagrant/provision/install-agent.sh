#!/usr/bin/env bash
# Every lab node: builds flannel-ts from the synced repository, installs flanneld under systemd with
# the Docker drop-in (packages/flanneld/systemd), starts flanneld and restarts dockerd on its subnet.
#
#   install-agent.sh ETCD_ENDPOINTS [IFACE] [SOURCE]
#
# ETCD_ENDPOINTS and IFACE (default eth1) go into /etc/default/flanneld as FLANNELD_ETCD_ENDPOINTS and
# FLANNELD_IFACE. SOURCE (default /vagrant) is the repository, copied to /opt/flannel-ts. Needs
# common.sh first. Safe to run again: it rebuilds what changed and restarts flanneld and dockerd.
set -euo pipefail

endpoints=${1:?usage: install-agent.sh ETCD_ENDPOINTS [IFACE] [SOURCE]}
iface=${2:-eth1}
src=${3:-/vagrant}
readonly dest=/opt/flannel-ts
readonly units=$dest/packages/flanneld/systemd
readonly ready_timeout=300 # seconds for flanneld to get a lease (it waits for etcd and the config)

# The sources, owned by root: the synced copy belongs to the vagrant user, and npm run as root in a
# tree owned by another user may run scripts as that user. Dependencies and build output are kept
# between runs: they are made here, never copied.
mkdir -p "$dest"
rsync -a --delete --no-owner --no-group \
  --exclude=.git/ --exclude=node_modules/ --exclude=dist/ --exclude=coverage/ --exclude=.lab/ \
  --exclude=vagrant/.vagrant/ "$src/" "$dest/"

# The build needs the dev dependencies (TypeScript). Dependencies' install scripts are skipped: none is
# needed (ssh2's optional native crypto and cpu-features would only try to compile).
cd "$dest"
npm install --no-audit --no-fund --ignore-scripts --loglevel=error
npm run --silent build

ln -sfn "$dest/packages/flanneld/bin/flanneld.js" /usr/local/bin/flanneld
ln -sfn "$dest/packages/docker/bin/flannel-docker-opts.js" /usr/local/bin/flannel-docker-opts
echo "agent: flanneld $(flanneld --version 2>&1)"

install -m 0644 "$units/flanneld.service" /etc/systemd/system/flanneld.service
install -D -m 0644 "$units/docker.service.d/10-flannel.conf" \
  /etc/systemd/system/docker.service.d/10-flannel.conf
{
  cat "$units/flanneld.default"
  printf '\n# Set by vagrant/provision/install-agent.sh\n'
  printf 'FLANNELD_ETCD_ENDPOINTS=%s\nFLANNELD_IFACE=%s\n' "$endpoints" "$iface"
} >/etc/default/flanneld
systemctl daemon-reload
systemctl enable --quiet flanneld docker

# flanneld is Type=notify: it becomes active once it holds a lease and has written
# /run/flannel/subnet.env and /run/flannel/docker_opts.env. Wait for that with a limit, rather than
# in `systemctl restart` (which would wait for as long as etcd is unreachable).
systemctl restart --no-block flanneld
waited=0
until systemctl is-active --quiet flanneld; do
  if [ "$waited" -ge "$ready_timeout" ] || systemctl is-failed --quiet flanneld; then
    echo "agent: flanneld is not ready after ${waited}s ($(systemctl is-active flanneld || true))" >&2
    journalctl -u flanneld -n 30 --no-pager >&2 || true
    exit 1
  fi
  sleep 1
  waited=$((waited + 1))
done

# dockerd was started by its package on the default 172.17.0.0/16 bridge: restart it on the flannel
# subnet, then check that docker0 carries FLANNEL_SUBNET.
systemctl restart docker
subnet=$(sed -n 's/^FLANNEL_SUBNET=//p' /run/flannel/subnet.env)
if ! ip -4 -o addr show dev docker0 | grep -qF " inet $subnet "; then
  echo "agent: docker0 does not carry FLANNEL_SUBNET=$subnet:" >&2
  ip -4 -o addr show dev docker0 >&2 || true
  exit 1
fi
echo "agent: flanneld ready, docker0 on $subnet"
sed 's/^/  /' /run/flannel/subnet.env /run/flannel/docker_opts.env
