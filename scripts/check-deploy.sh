#!/usr/bin/env bash
# Checks the deployment files as far as a machine without a hypervisor or an image registry can:
#   - vagrant validate --ignore-provider on vagrant/Vagrantfile
#   - docker-compose config on docker-compose.yml
#   - ShellCheck on vagrant/provision/*.sh and this script
#   - systemd-analyze verify on packages/flanneld/systemd/flanneld.service, and on docker.service
#     with the drop-in docker.service.d/10-flannel.conf
# Every check runs; the exit status is 1 if any failed. A missing tool is a failure too (the tools are
# the Debian packages vagrant, docker-compose, shellcheck and systemd), unless --skip-missing is given,
# which reports it and goes on.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly repo
readonly units="$repo/packages/flanneld/systemd"

skip_missing=false
case ${1:-} in
  '') ;;
  --skip-missing) skip_missing=true ;;
  -h | --help)
    sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "check-deploy: unknown argument: $1 (usage: $0 [--skip-missing])" >&2
    exit 2
    ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=()

# check NAME TOOL COMMAND...: runs COMMAND and records whether it passed; its output is shown only on
# failure.
check() {
  local name=$1 tool=$2
  shift 2
  if ! command -v "$tool" >/dev/null 2>&1; then
    if [ "$skip_missing" = true ]; then
      echo "check-deploy: SKIP $name ($tool is not installed)"
      return 0
    fi
    echo "check-deploy: FAIL $name: $tool is not installed" >&2
    failed+=("$name")
    return 0
  fi
  if "$@" >"$tmp/out" 2>&1; then
    echo "check-deploy: ok   $name"
  else
    echo "check-deploy: FAIL $name:" >&2
    sed 's/^/  | /' "$tmp/out" >&2
    failed+=("$name")
  fi
}

vagrant_validate() {
  # The machine state dir goes to the temp dir, so no vagrant/.vagrant is left behind.
  # --ignore-provider: without it validate needs a usable provider (VirtualBox, libvirt, Docker) and
  # fails with "No usable default provider could be found"; with it the provider blocks' options go
  # unchecked, everything else is validated.
  (cd "$repo/vagrant" && VAGRANT_DOTFILE_PATH="$tmp/vagrant-dot" vagrant validate --ignore-provider)
}

compose_config() {
  docker-compose --project-directory "$repo" -f "$repo/docker-compose.yml" config -q
}

shellcheck_scripts() {
  shellcheck "$repo"/vagrant/provision/*.sh "$repo/scripts/check-deploy.sh"
}

# systemd_verify: `systemd-analyze verify --root` on a throwaway root holding our two files, the
# docker.service they extend (the installed one, else a copy of Debian 12's), the targets the default
# dependencies need, and a stub for every command the units run. With the stubs there is no noise about
# binaries missing on this machine, so any output at all (verify reports unknown keys and bad values
# with exit status 0) counts as a failure.
systemd_verify() {
  local root="$tmp/root" sysdir=/usr/lib/systemd/system
  [ -d "$sysdir" ] || sysdir=/lib/systemd/system
  mkdir -p "$root/etc/systemd/system/docker.service.d" "$root/usr/lib/systemd/system"
  install -m 0644 "$units/flanneld.service" "$root/etc/systemd/system/flanneld.service"
  install -m 0644 "$units/docker.service.d/10-flannel.conf" \
    "$root/etc/systemd/system/docker.service.d/10-flannel.conf"
  cp "$sysdir"/*.target "$root/usr/lib/systemd/system/"
  if [ -f "$sysdir/docker.service" ] && [ -f "$sysdir/docker.socket" ]; then
    cp "$sysdir/docker.service" "$sysdir/docker.socket" "$root/usr/lib/systemd/system/"
  else
    write_debian_docker_units "$root/usr/lib/systemd/system"
  fi
  local cmd
  grep -h '^Exec[A-Za-z]*=' "$root"/etc/systemd/system/flanneld.service \
    "$root"/etc/systemd/system/docker.service.d/10-flannel.conf \
    "$root"/usr/lib/systemd/system/docker.service |
    sed -E 's/^Exec[A-Za-z]*=[-@:+!|]*//; s/[[:space:]].*//' | grep '^/' | sort -u >"$tmp/commands"
  while IFS= read -r cmd; do
    mkdir -p "$root$(dirname "$cmd")"
    printf '#!/bin/sh\nexit 0\n' >"$root$cmd"
    chmod 0755 "$root$cmd"
  done <"$tmp/commands"
  local out status=0
  out=$(systemd-analyze verify --root="$root" flanneld.service docker.service 2>&1) || status=$?
  if [ "$status" -ne 0 ] || [ -n "$out" ]; then
    printf '%s\n' "$out"
    echo "(systemd-analyze verify exit status $status)"
    return 1
  fi
}

# The parts of Debian 12's docker.io units (20.10.24) that matter to the drop-in, for machines
# without docker.io.
write_debian_docker_units() {
  cat >"$1/docker.service" <<'EOF'
[Unit]
Description=Docker Application Container Engine
After=network-online.target docker.socket firewalld.service containerd.service
Wants=network-online.target containerd.service
Requires=docker.socket

[Service]
Type=notify
EnvironmentFile=-/etc/default/docker
ExecStart=/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS
ExecReload=/bin/kill -s HUP $MAINPID
TimeoutStartSec=0
Delegate=yes
KillMode=process
Restart=on-failure

[Install]
WantedBy=multi-user.target
EOF
  cat >"$1/docker.socket" <<'EOF'
[Unit]
Description=Docker Socket for the API

[Socket]
ListenStream=/run/docker.sock
SocketMode=0660
SocketUser=root
SocketGroup=docker

[Install]
WantedBy=sockets.target
EOF
}

check 'vagrant validate' vagrant vagrant_validate
check 'docker-compose config' docker-compose compose_config
check 'shellcheck' shellcheck shellcheck_scripts
check 'systemd-analyze verify' systemd-analyze systemd_verify

if [ "${#failed[@]}" -gt 0 ]; then
  echo "check-deploy: ${#failed[@]} failed: ${failed[*]}" >&2
  exit 1
fi
echo "check-deploy: all checks passed"
