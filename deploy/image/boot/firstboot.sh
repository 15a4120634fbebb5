#!/bin/sh
# Swarmgate first boot, stage 2 (swarmgate-firstboot.service, after the network is up):
#   1. Node.js of the major the package's native modules are built for (NODE_MAJOR= in
#      firstboot.conf; >= 20 on a card prepared without it): the packages under debs/extra (for
#      sites without internet) or apt-get install nodejs
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

# The version of the box's Node.js, or "none".
node_version() {
  [ -x "$ROOT/usr/bin/node" ] || { echo none; return 0; }
  "$ROOT/usr/bin/node" -p 'process.versions.node' 2>/dev/null || echo unknown
}

# Node.js as the package needs it: the major its native modules are built for (the postinst
# refuses any other), or >= 20 when firstboot.conf does not say which.
node_ok() {
  major=$(node_version)
  major=${major%%.*}
  case "$major" in ''|*[!0-9]*) return 1 ;; esac
  if [ -n "$NODE_MAJOR" ]; then [ "$major" -eq "$NODE_MAJOR" ]; else [ "$major" -ge 20 ]; fi
}

# Why an installation of the package failed, on one line for status.txt: what its postinst said
# last (between dpkg's "Setting up swarmgate-edge" and its error; e.g. the Node.js it needs), or
# else the last lines of the output.
install_failure() {
  said=$(awk '/^Setting up swarmgate-edge /{n=0; on=1; next} /^dpkg: error processing/{on=0} on{l[++n]=$0} END{for(i=(n>6?n-5:1);i<=n;i++) print l[i]}' "$1")
  [ -n "$said" ] || said=$(tail -n 3 "$1")
  printf '%s\n' "$said" | sed 's/^ *//' | tr '\n' ' ' | sed 's/ *$//'
}

package_state() {
  dpkg-query -W -f='${Status}' swarmgate-edge 2>/dev/null || true
}

HUB=$(conf HUB)
DEB=$(conf DEB)
CA=$(conf CA_FINGERPRINT)
NAME=$(conf HOSTNAME)
NODE_MAJOR=$(conf NODE_MAJOR)
case "$NODE_MAJOR" in *[!0-9]*) NODE_MAJOR= ;; esac
if [ -n "$NODE_MAJOR" ]; then NODE_NEEDED="Node.js $NODE_MAJOR (the major the package's native modules are built for)"; else NODE_NEEDED="Node.js >= 20"; fi

if [ -n "$NAME" ] && [ "$(hostname)" != "$NAME" ]; then
  hostnamectl set-hostname "$NAME" 2>/dev/null && log "hostname set to $NAME"
fi

# 1. Node.js
if ! node_ok; then
  found=$(node_version)
  if ls "$LIB"/debs/extra/*.deb >/dev/null 2>&1; then
    log "installing Node.js from the packages on the card (debs/extra; /usr/bin/node: $found, $NODE_NEEDED needed)"
    apt-get install -y --no-install-recommends "$LIB"/debs/extra/*.deb || dpkg -i "$LIB"/debs/extra/*.deb || true
    tried="the packages on the card (debs/extra) did not install it"
  else
    log "installing Node.js (apt-get install nodejs; /usr/bin/node: $found, $NODE_NEEDED needed)"
    { apt-get update && apt-get install -y nodejs; } || true
    tried="apt-get install nodejs did not install it (no internet, or the distribution's nodejs is another major?)"
  fi
  if ! node_ok; then
    log "FAILED: $NODE_NEEDED is required; /usr/bin/node is $(node_version) and $tried: put nodejs${NODE_MAJOR:+ $NODE_MAJOR} and its dependencies on the card (swarmgate image prepare --extra-deb ...); retrying in a minute"
    exit 1
  fi
fi

# 2. The gateway package
case "$(package_state)" in
  *"ok installed"*) ;;
  *" unpacked"*|*"half-configured"*)
    log "finishing the swarmgate-edge installation (dpkg --configure)"
    dpkg --configure swarmgate-edge >"$LIB/dpkg.out" 2>&1
    status=$?
    cat "$LIB/dpkg.out"
    [ "$status" -eq 0 ] || { log "FAILED: dpkg --configure swarmgate-edge: $(install_failure "$LIB/dpkg.out"); retrying in a minute"; exit 1; }
    ;;
  *)
    if [ -z "$DEB" ] || [ ! -f "$LIB/debs/$DEB" ]; then
      log "FAILED: the package $DEB is not on the card; retrying in a minute"
      exit 1
    fi
    log "installing $DEB"
    { apt-get install -y "$LIB/debs/$DEB" || dpkg -i "$LIB/debs/$DEB"; } >"$LIB/dpkg.out" 2>&1
    status=$?
    cat "$LIB/dpkg.out"
    [ "$status" -eq 0 ] || { log "FAILED: installing $DEB: $(install_failure "$LIB/dpkg.out") (see journalctl -u swarmgate-firstboot); retrying in a minute"; exit 1; }
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
  # The command runs as the swarmgate user (root never runs the app that user updates), which
  # cannot read $LIB: it gets the token in a copy of its own, in the folder it enrolls into.
  HANDOFF="$CONFIG_DIR/.enroll-token"
  (umask 077 && cp "$TOKEN" "$HANDOFF") && chown swarmgate:swarmgate "$HANDOFF" || { rm -f "$HANDOFF"; log "FAILED: cannot hand the token to the swarmgate user in $CONFIG_DIR; retrying in a minute"; exit 1; }
  "$SWARMGATE" edge enroll --hub "$HUB" --token-file "$HANDOFF" ${CA:+--ca-fingerprint "$CA"} --out "$CONFIG_DIR" >"$LIB/enroll.out" 2>&1
  status=$?
  rm -f "$HANDOFF"
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
rm -f "$TOKEN" "$LIB/enroll.out" "$LIB/dpkg.out"
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
