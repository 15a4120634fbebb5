#!/bin/sh
# Swarmgate first boot, stage 2 (swarmgate-firstboot.service, after the network is up):
#   1. Node.js: the packages under debs/extra (for sites without internet) or apt-get install nodejs
#   2. the swarmgate-edge package from debs/
#   3. swarmgate edge enroll --hub URL --token-file TOKEN [--ca-fingerprint F] --out /etc/swarmgate, then
#      the token is deleted (a token the hub refused for good stops this unit: flash a new one)
#   4. swarmgate edge check /etc/swarmgate/gateway.yaml (enrolled, but the config the hub issued may
#      have problems on this box: waits, checking every minute, until it is fixed)
#   5. systemctl enable --now swarmgate-edge, and this unit removes itself
# Any step that fails exits 1: systemd retries the whole script a minute later, and every step is
# skipped when already done. Progress: journalctl -u swarmgate-firstboot, and swarmgate/status.txt
# on the boot partition. SWARMGATE_FIRSTBOOT_ROOT (tests only) prefixes every path on the box.
set -u

ROOT=${SWARMGATE_FIRSTBOOT_ROOT:-}
LIB="$ROOT/var/lib/swarmgate-firstboot"
CONF="$LIB/firstboot.conf"
TOKEN="$LIB/enroll-token"
CONFIG_DIR="$ROOT/etc/swarmgate"
SWARMGATE="$ROOT/usr/bin/swarmgate"
BOOT="$ROOT/boot/firmware"
[ -d "$BOOT/swarmgate" ] || BOOT="$ROOT/boot"
STATUS="$BOOT/swarmgate/status.txt"

log() {
  [ -d "$BOOT/swarmgate" ] && printf '%s firstboot: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >>"$STATUS"
  printf 'swarmgate firstboot: %s\n' "$*"
}

conf() {
  sed -n "s/^$1=//p" "$CONF" | head -n 1
}

node_ok() {
  [ -x "$ROOT/usr/bin/node" ] || return 1
  major=$("$ROOT/usr/bin/node" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  [ "$major" -ge 20 ] 2>/dev/null
}

package_state() {
  dpkg-query -W -f='${Status}' swarmgate-edge 2>/dev/null || true
}

HUB=$(conf HUB)
DEB=$(conf DEB)
CA=$(conf CA_FINGERPRINT)
NAME=$(conf HOSTNAME)

if [ -n "$NAME" ] && [ "$(hostname)" != "$NAME" ]; then
  hostnamectl set-hostname "$NAME" 2>/dev/null && log "hostname set to $NAME"
fi

# 1. Node.js
if ! node_ok; then
  if ls "$LIB"/debs/extra/*.deb >/dev/null 2>&1; then
    log "installing Node.js from the packages on the card (debs/extra)"
    apt-get install -y --no-install-recommends "$LIB"/debs/extra/*.deb || dpkg -i "$LIB"/debs/extra/*.deb || true
  else
    log "installing Node.js (apt-get install nodejs)"
    { apt-get update && apt-get install -y nodejs; } || true
  fi
  if ! node_ok; then
    log "FAILED: Node.js >= 20 is not installed and could not be installed (no internet? put nodejs and its dependencies on the card: swarmgate image prepare --extra-deb ...); retrying in a minute"
    exit 1
  fi
fi

# 2. The gateway package
case "$(package_state)" in
  *"ok installed"*) ;;
  *" unpacked"*|*"half-configured"*)
    log "finishing the swarmgate-edge installation (dpkg --configure)"
    dpkg --configure swarmgate-edge || { log "FAILED: dpkg --configure swarmgate-edge; retrying in a minute"; exit 1; }
    ;;
  *)
    if [ -z "$DEB" ] || [ ! -f "$LIB/debs/$DEB" ]; then
      log "FAILED: the package $DEB is not on the card; retrying in a minute"
      exit 1
    fi
    log "installing $DEB"
    apt-get install -y "$LIB/debs/$DEB" || dpkg -i "$LIB/debs/$DEB" || { log "FAILED: installing $DEB (see journalctl -u swarmgate-firstboot); retrying in a minute"; exit 1; }
    ;;
esac

# 3. Enrollment (identity.json: what `swarmgate edge enroll` writes once it has enrolled)
if [ ! -f "$CONFIG_DIR/identity.json" ]; then
  if [ ! -s "$TOKEN" ]; then
    log "FAILED: no enrollment token and no enrolled identity in $CONFIG_DIR; flash the card again with a new token"
    exit 1
  fi
  log "enrolling with $HUB"
  # --token-file: the token never shows in the process list. Its output is kept to pick the
  # summary line out of it, then goes to the journal as it would have.
  "$SWARMGATE" edge enroll --hub "$HUB" --token-file "$TOKEN" ${CA:+--ca-fingerprint "$CA"} --out "$CONFIG_DIR" >"$LIB/enroll.out" 2>&1
  status=$?
  cat "$LIB/enroll.out"
  case "$status" in
    0) log "enrolled" ;;
    3)
      # The hub refused the token for good (used, expired, revoked): retrying cannot help, so this unit stops.
      log "FAILED: the hub refused the enrollment token (used, expired or revoked; see journalctl -u swarmgate-firstboot); not retrying: flash the card again with a new token"
      systemctl disable swarmgate-firstboot.service 2>/dev/null || true
      exit 0
      ;;
    4)
      # Enrolled (identity written, token spent), but the config the hub issued has problems here:
      # enrolling again cannot help; step 4 waits for the config to be fixed.
      rm -f "$TOKEN"
      summary=$(grep '^enrolled as ' "$LIB/enroll.out" | tail -n 1)
      log "${summary:-enrolled, but the config issued has problems (see journalctl -u swarmgate-firstboot)}; the gateway starts once the config passes the check (every minute)"
      swarmgate_config_logged=yes
      ;;
    *)
      log "FAILED: enrollment with $HUB (see journalctl -u swarmgate-firstboot); retrying in a minute"
      exit 1
      ;;
  esac
fi
rm -f "$TOKEN" "$LIB/enroll.out"
chown -R swarmgate:swarmgate "$CONFIG_DIR"

# 4. The config the hub issued must pass its check before the gateway starts; said once per change.
if ! "$SWARMGATE" edge check "$CONFIG_DIR/gateway.yaml" >"$LIB/check.out" 2>&1; then
  cat "$LIB/check.out"
  if [ "${swarmgate_config_logged:-}" != yes ] && ! cmp -s "$LIB/check.out" "$LIB/check.logged" 2>/dev/null; then
    log "enrolled, but $CONFIG_DIR/gateway.yaml has problems: $(grep -v ' problem(s)$' "$LIB/check.out" | tr '\n' ';' | sed 's/;$//; s/;/; /g'); fix the site template on the hub and flash the card again with a token for this gateway, or fix the file on the box; checked again every minute"
  fi
  cp "$LIB/check.out" "$LIB/check.logged"
  exit 1
fi
rm -f "$LIB/check.out" "$LIB/check.logged"

# 5. The gateway service
systemctl daemon-reload
if ! systemctl enable --now swarmgate-edge.service; then
  log "FAILED: systemctl enable --now swarmgate-edge (see journalctl -u swarmgate-edge); retrying in a minute"
  exit 1
fi
log "swarmgate-edge enabled and started"

systemctl disable swarmgate-firstboot.service 2>/dev/null || true
rm -f "$ROOT/etc/systemd/system/swarmgate-firstboot.service" "$ROOT/etc/systemd/system/multi-user.target.wants/swarmgate-firstboot.service"
rm -rf "$BOOT/swarmgate/debs" "$LIB"
log "done: the first-boot files are removed (this status file stays)"
exit 0
