#!/usr/bin/env bash
# Provision a Raspberry-Pi-class gateway from a checkout or release tarball of Swarmgate.
#
#   sudo deploy/provision-gateway.sh --config site-gw.yaml [--profiles DIR] [--prefix /opt/swarmgate] [--no-service]
#
# What it does, idempotently: checks Node.js >= 20, creates the `swarmgate` system user in the
# gpio and dialout groups, builds this version (releases/<version> under the prefix, with npm ci,
# production dependencies only, nothing fetched outside the npm registry), checks the config and
# profiles with this version's `swarmgate edge check` on a copy of /etc/swarmgate (on any error it
# stops with nothing installed: the running gateway, its release and config stay as they were),
# then installs the release into the updater's layout (current -> releases/<version>; bin ->
# current/bin) and the config and profiles under /etc/swarmgate (the replaced gateway.yaml kept as
# gateway.yaml.previous), installs the systemd unit and starts the gateway, or restarts it when it
# is running (not with --no-service, e.g. in an image chroot). The prefix must not be under /usr,
# /boot, /efi or /etc: the unit's ProtectSystem=full makes those read-only for the updater.
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
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
[[ -n "$CONFIG" ]] || { echo "--config FILE is required" >&2; exit 2; }
[[ $EUID -eq 0 ]] || { echo "run as root (sudo)" >&2; exit 1; }
[[ "$PREFIX" == /* ]] || { echo "--prefix must be an absolute path (got: $PREFIX)" >&2; exit 2; }
case "${PREFIX%/}/" in
  /usr/*|/boot/*|/efi/*|/etc/*)
    echo "--prefix $PREFIX: the unit's ProtectSystem=full makes /usr, /boot, /efi and /etc read-only for the gateway, so the updater could not install releases there; use a prefix outside them (the default /opt/swarmgate, or e.g. /srv/swarmgate)" >&2
    exit 2 ;;
esac

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
echo "== building release $VERSION in $REL.partial"
mkdir -p "$PREFIX/releases"
rm -rf "$REL.partial"
mkdir -p "$REL.partial"
# The source without what running or building it leaves (as .gitignore lists: a demo's data folder
# holds keys; dependencies and builds are made fresh below).
tar -C "$SRC" --exclude=./.git --exclude=node_modules --exclude=dist --exclude=./data --exclude=./test-artifacts \
  --exclude=./bench/results --exclude=./.scratch --exclude='*.log' --exclude='*.pid' -cf - . | tar -C "$REL.partial" -xf -
( cd "$REL.partial" && npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev )

# Nothing is installed before the new config and profiles pass the new release's check: they are
# checked in a copy of /etc/swarmgate (its identity, secrets and other files, without the data
# folder) with the profiles and gateway.yaml as they would be installed.
echo "== checking the configuration with release $VERSION"
CHECK_DIR="$(mktemp -d /etc/swarmgate.check.XXXXXX)"
trap 'rm -rf "$CHECK_DIR"' EXIT
[[ -d /etc/swarmgate ]] && tar -C /etc/swarmgate --exclude=./data -cf - . | tar -C "$CHECK_DIR" -xf -
mkdir -p "$CHECK_DIR/profiles"
cp "$CONFIG" "$CHECK_DIR/gateway.yaml"
cp "$REL.partial"/devices/profiles/*.yaml "$CHECK_DIR/profiles/"
[[ -n "$PROFILES" ]] && cp "$PROFILES"/*.yaml "$CHECK_DIR/profiles/"
chown -R swarmgate:swarmgate "$REL.partial" "$CHECK_DIR"
# Its problems are said with the paths the files would be installed at.
if ! runuser -u swarmgate -- node "$REL.partial/bin/swarmgate.js" edge check "$CHECK_DIR/gateway.yaml" 2>&1 | sed "s#$CHECK_DIR#/etc/swarmgate#g"; then
  rm -rf "$REL.partial"
  echo "$CONFIG (with the profiles it would be installed with) has problems, listed above: nothing was installed (the gateway, its release and /etc/swarmgate are as they were); fix them and run this again" >&2
  exit 1
fi

echo "== installing release $VERSION into $REL"
rm -rf "$REL"
mv "$REL.partial" "$REL"
# The links are replaced, never removed first: the unit always finds a bin/swarmgate.js.
ln -sfn "releases/$VERSION" "$PREFIX/current.new" && mv -T "$PREFIX/current.new" "$PREFIX/current"
ln -sfn current/bin "$PREFIX/bin.new" && mv -T "$PREFIX/bin.new" "$PREFIX/bin"
# The updater (running as swarmgate) unpacks releases beside this one, switches current and prunes
# old releases: as the Debian package leaves them, those folders are writable by it.
chown root:swarmgate "$PREFIX" "$PREFIX/releases"
chmod 0775 "$PREFIX" "$PREFIX/releases"

echo "== configuration"
mkdir -p /etc/swarmgate/profiles
# The replaced config is kept as remote configuration keeps it (gateway.yaml.previous); the new one
# is renamed into place, never half-written.
if [[ -f /etc/swarmgate/gateway.yaml ]] && ! cmp -s "$CONFIG" /etc/swarmgate/gateway.yaml; then
  cp -p /etc/swarmgate/gateway.yaml /etc/swarmgate/gateway.yaml.previous
  echo "the replaced config is kept as /etc/swarmgate/gateway.yaml.previous"
fi
cp "$CONFIG" /etc/swarmgate/gateway.yaml.new && mv /etc/swarmgate/gateway.yaml.new /etc/swarmgate/gateway.yaml
cp "$REL"/devices/profiles/*.yaml /etc/swarmgate/profiles/
[[ -n "$PROFILES" ]] && cp "$PROFILES"/*.yaml /etc/swarmgate/profiles/
# The gateway writes here (remote configuration replaces gateway.yaml, enrollment its identity and
# secrets): the folder belongs to the service user, like the package's postinst leaves it.
chown -R swarmgate:swarmgate /etc/swarmgate
chmod 0750 /etc/swarmgate

if (( SERVICE == 0 )); then
  echo "done (--no-service): enable it with systemctl enable --now swarmgate-edge once the unit is installed"
  exit 0
fi
echo "== service"
sed "s#/opt/swarmgate#$PREFIX#g" "$PREFIX/current/deploy/systemd/swarmgate-edge.service" > /etc/systemd/system/swarmgate-edge.service
systemctl daemon-reload
# enable --now does nothing to a running unit: a gateway running already is restarted, so it runs
# the release and config just installed.
if systemctl is-active --quiet swarmgate-edge.service; then
  systemctl enable swarmgate-edge.service
  systemctl restart swarmgate-edge.service
else
  systemctl enable --now swarmgate-edge.service
fi
systemctl --no-pager status swarmgate-edge.service | head -5
echo "done: logs with journalctl -u swarmgate-edge -f; metrics on 127.0.0.1:9464 unless gateway.yaml says otherwise; software updates need update.installRoot: $PREFIX in gateway.yaml"
