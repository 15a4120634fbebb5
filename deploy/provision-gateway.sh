#!/usr/bin/env bash
# Provision a Raspberry-Pi-class gateway from a checkout or release tarball of Swarmgate.
#
#   sudo deploy/provision-gateway.sh --config site-gw.yaml [--profiles DIR] [--prefix /opt/swarmgate] [--no-service]
#
# What it does, idempotently: checks Node.js >= 20, creates the `swarmgate` system user in the
# gpio and dialout groups, installs this version into the updater's layout under the prefix
# (releases/<version> built with npm ci, production dependencies only, nothing fetched outside the
# npm registry; current -> releases/<version>; bin -> current/bin), installs the config and
# profiles under /etc/swarmgate, validates them with `swarmgate edge check` (stops on any error),
# then installs and starts the systemd unit (not with --no-service, e.g. in an image chroot).
set -euo pipefail

PREFIX=/opt/swarmgate
CONFIG=""
PROFILES=""
SERVICE=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --config) CONFIG="$2"; shift 2 ;;
    --profiles) PROFILES="$2"; shift 2 ;;
    --prefix) PREFIX="$2"; shift 2 ;;
    --no-service) SERVICE=0; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
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

echo "== user and groups"
getent group gpio >/dev/null || groupadd --system gpio
getent group dialout >/dev/null || groupadd --system dialout
id swarmgate >/dev/null 2>&1 || useradd --system --home /var/lib/swarmgate --shell /usr/sbin/nologin --groups gpio,dialout swarmgate
mkdir -p /var/lib/swarmgate && chown swarmgate:swarmgate /var/lib/swarmgate

VERSION="$(node -p 'require(process.argv[1]).version' "$SRC/package.json")"
REL="$PREFIX/releases/$VERSION"
if [[ -e "$PREFIX/bin" && ! -L "$PREFIX/bin" ]]; then
  echo "$PREFIX holds a plain copy from an earlier provisioning (its bin/ is a folder, not the link to current/bin):" >&2
  echo "stop the service, move it away (mv $PREFIX $PREFIX.plain) and run this again" >&2
  exit 1
fi
echo "== installing release $VERSION into $REL"
mkdir -p "$PREFIX/releases"
rm -rf "$REL.partial"
mkdir -p "$REL.partial"
# The source without what running or building it leaves (as .gitignore lists: a demo's data folder
# holds keys; dependencies and builds are made fresh below).
tar -C "$SRC" --exclude=./.git --exclude=node_modules --exclude=dist --exclude=./data --exclude=./test-artifacts \
  --exclude=./bench/results --exclude=./.scratch --exclude='*.log' --exclude='*.pid' -cf - . | tar -C "$REL.partial" -xf -
( cd "$REL.partial" && npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev )
rm -rf "$REL"
mv "$REL.partial" "$REL"
# The links are replaced, never removed first: the unit always finds a bin/swarmgate.js.
ln -sfn "releases/$VERSION" "$PREFIX/current.new" && mv -T "$PREFIX/current.new" "$PREFIX/current"
ln -sfn current/bin "$PREFIX/bin.new" && mv -T "$PREFIX/bin.new" "$PREFIX/bin"
# The updater (running as swarmgate) unpacks releases beside this one, switches current and prunes
# old releases: as the Debian package leaves them, those folders are writable by it.
chown root:swarmgate "$PREFIX" "$PREFIX/releases"
chmod 0775 "$PREFIX" "$PREFIX/releases"
chown -R swarmgate:swarmgate "$REL"

echo "== configuration"
mkdir -p /etc/swarmgate/profiles
cp "$CONFIG" /etc/swarmgate/gateway.yaml
cp "$REL"/devices/profiles/*.yaml /etc/swarmgate/profiles/
[[ -n "$PROFILES" ]] && cp "$PROFILES"/*.yaml /etc/swarmgate/profiles/
# The gateway writes here (remote configuration replaces gateway.yaml, enrollment its identity and
# secrets): the folder belongs to the service user, like the package's postinst leaves it.
chown -R swarmgate:swarmgate /etc/swarmgate
chmod 0750 /etc/swarmgate
runuser -u swarmgate -- node "$PREFIX/bin/swarmgate.js" edge check /etc/swarmgate/gateway.yaml

if (( SERVICE == 0 )); then
  echo "done (--no-service): enable it with systemctl enable --now swarmgate-edge once the unit is installed"
  exit 0
fi
echo "== service"
sed "s#/opt/swarmgate#$PREFIX#g" "$PREFIX/current/deploy/systemd/swarmgate-edge.service" > /etc/systemd/system/swarmgate-edge.service
systemctl daemon-reload
systemctl enable --now swarmgate-edge.service
systemctl --no-pager status swarmgate-edge.service | head -5
echo "done: logs with journalctl -u swarmgate-edge -f; metrics on 127.0.0.1:9464 unless gateway.yaml says otherwise; software updates need update.installRoot: $PREFIX in gateway.yaml"
