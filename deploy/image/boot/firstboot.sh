#!/bin/sh
# Swarmgate first boot, stage 2 (swarmgate-firstboot.service, after the network is up):
#   1. Node.js: the packages under debs/extra (for sites without internet) or apt-get install nodejs
#   2. the swarmgate-edge package from debs/
#   3. swarmgate edge enroll --hub URL --token-file TOKEN [--ca-fingerprint F] --out /etc/swarmgate, then
#      the token is deleted (a token the hub refused for good stops this unit: flash a new one)
#   4. systemctl enable --now swarmgate-edge, and this unit removes itself
# Any step that fails exits 1: systemd retries the whole script a minute later, and every step is
# skipped when already done. Progress: journalctl -u swarmgate-firstboot, and swarmgate/status.txt
# on the boot partition.
set -u

LIB=/var/lib/swarmgate-firstboot
CONF="$LIB/firstboot.conf"
TOKEN="$LIB/enroll-token"
CONFIG_DIR=/etc/swarmgate
BOOT=/boot/firmware
[ -d "$BOOT/swarmgate" ] || BOOT=/boot
STATUS="$BOOT/swarmgate/status.txt"

log() {
  [ -d "$BOOT/swarmgate" ] && printf '%s firstboot: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >>"$STATUS"
  printf 'swarmgate firstboot: %s\n' "$*"
}

conf() {
  sed -n "s/^$1=//p" "$CONF" | head -n 1
}

node_ok() {
  [ -x /usr/bin/node ] || return 1
  major=$(/usr/bin/node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
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
  # --token-file: the token never shows in the process list. Exit 3: the hub refused the token
  # for good (used, expired, revoked): retrying cannot help, so this unit stops.
  /usr/bin/swarmgate edge enroll --hub "$HUB" --token-file "$TOKEN" ${CA:+--ca-fingerprint "$CA"} --out "$CONFIG_DIR"
  status=$?
  if [ "$status" -eq 3 ]; then
    log "FAILED: the hub refused the enrollment token (used, expired or revoked; see journalctl -u swarmgate-firstboot); not retrying: flash the card again with a new token"
    systemctl disable swarmgate-firstboot.service 2>/dev/null || true
    exit 0
  fi
  if [ "$status" -ne 0 ]; then
    log "FAILED: enrollment with $HUB (see journalctl -u swarmgate-firstboot); retrying in a minute"
    exit 1
  fi
  log "enrolled"
fi
rm -f "$TOKEN"
chown -R swarmgate:swarmgate "$CONFIG_DIR"

# 4. The gateway service
systemctl daemon-reload
if ! systemctl enable --now swarmgate-edge.service; then
  log "FAILED: systemctl enable --now swarmgate-edge (see journalctl -u swarmgate-edge); retrying in a minute"
  exit 1
fi
log "swarmgate-edge enabled and started"

systemctl disable swarmgate-firstboot.service 2>/dev/null || true
rm -f /etc/systemd/system/swarmgate-firstboot.service /etc/systemd/system/multi-user.target.wants/swarmgate-firstboot.service
rm -rf "$BOOT/swarmgate/debs" "$LIB"
log "done: the first-boot files are removed (this status file stays)"
exit 0
