#!/usr/bin/env bash
# Provision a Raspberry-Pi-class gateway from a checkout or release tarball of Swarmgate.
#
#   sudo deploy/provision-gateway.sh --config site-gw.yaml [--profiles DIR] [--prefix /opt/swarmgate]
#
# What it does, idempotently: checks Node.js >= 20, installs the package into the prefix (npm ci,
# production dependencies only; nothing is fetched outside the npm registry), creates the
# `swarmgate` system user in the gpio and dialout groups, installs the config and profiles under
# /etc/swarmgate, validates them with `swarmgate edge check` (stops on any error), then installs
# and starts the systemd unit.
set -euo pipefail

PREFIX=/opt/swarmgate
CONFIG=""
PROFILES=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --config) CONFIG="$2"; shift 2 ;;
    --profiles) PROFILES="$2"; shift 2 ;;
    --prefix) PREFIX="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
[[ -n "$CONFIG" ]] || { echo "--config FILE is required" >&2; exit 2; }
[[ $EUID -eq 0 ]] || { echo "run as root (sudo)" >&2; exit 1; }

SRC="$(cd "$(dirname "$0")/.." && pwd)"
node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if (( node_major < 20 )); then
  echo "Node.js >= 20 is required (found: $(node --version 2>/dev/null || echo none)); install it from your distribution" >&2
  exit 1
fi

echo "== installing into $PREFIX"
mkdir -p "$PREFIX"
if [[ "$SRC" != "$PREFIX" ]]; then
  cp -a "$SRC"/. "$PREFIX"/
fi
( cd "$PREFIX" && npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev )

echo "== user and groups"
getent group gpio >/dev/null || groupadd --system gpio
getent group dialout >/dev/null || groupadd --system dialout
id swarmgate >/dev/null 2>&1 || useradd --system --home /var/lib/swarmgate --shell /usr/sbin/nologin --groups gpio,dialout swarmgate
mkdir -p /var/lib/swarmgate && chown swarmgate:swarmgate /var/lib/swarmgate

echo "== configuration"
mkdir -p /etc/swarmgate/profiles
cp "$CONFIG" /etc/swarmgate/gateway.yaml
cp "$PREFIX"/devices/profiles/*.yaml /etc/swarmgate/profiles/
[[ -n "$PROFILES" ]] && cp "$PROFILES"/*.yaml /etc/swarmgate/profiles/
# The gateway writes here (remote configuration replaces gateway.yaml, enrollment its identity and
# secrets): the folder belongs to the service user, like the package's postinst leaves it.
chown -R swarmgate:swarmgate /etc/swarmgate
chmod 0750 /etc/swarmgate
runuser -u swarmgate -- node "$PREFIX/bin/swarmgate.js" edge check /etc/swarmgate/gateway.yaml

echo "== service"
sed "s#/opt/swarmgate#$PREFIX#g" "$PREFIX/deploy/systemd/swarmgate-edge.service" > /etc/systemd/system/swarmgate-edge.service
systemctl daemon-reload
systemctl enable --now swarmgate-edge.service
systemctl --no-pager status swarmgate-edge.service | head -5
echo "done: logs with journalctl -u swarmgate-edge -f; metrics on the port in gateway.yaml"
