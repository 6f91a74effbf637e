#!/usr/bin/env bash
# The README's test command: sets up a fresh machine (scripts/setup.sh), checks types, lint and
# formatting, then runs every test level (unit, integration against a real etcd and real `ip`
# in throwaway namespaces, end-to-end flanneld processes). Needs root, as CI has.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ "$(id -u)" != 0 ]; then
  echo "test: needs root (network namespaces, iptables); run: sudo $0" >&2
  exit 1
fi
"$repo/scripts/setup.sh"
cd "$repo"

echo "test: typecheck, lint, format"
npx --no-install tsc -p tsconfig.test.json
npm run --silent lint
npx --no-install prettier --check . --log-level warn
shellcheck scripts/*.sh scripts/lab .ci/run
echo "test: deployment files (systemd units, Vagrantfile, docker-compose.yml)"
scripts/check-deploy.sh

results=$(mktemp)
trap 'rm -f "$results"' EXIT
status=0
npx --no-install jest --runInBand --forceExit --json --outputFile="$results" "$@" || status=$?
node scripts/test-summary.mjs "$results" || status=1
exit "$status"
