#!/bin/sh
# Swarmgate first boot, stage 1. Written onto the boot partition by `swarmgate image prepare` and
# run once by systemd (cmdline.txt: systemd.run=/boot/firmware/swarmgate/firstrun.sh
# systemd.run_success_action=reboot systemd.unit=kernel-command-line.target), before the network.
#
# It takes the enrollment token off the boot partition at once (FAT has no permissions: anyone
# who can read the card or /boot/firmware could read it) into a root-only folder, sets the
# hostname and Wi-Fi, installs the stage-2 unit (swarmgate-firstboot.service: install the package
# and enroll, once the network is up), removes itself from cmdline.txt and reboots.
# Progress goes to swarmgate/status.txt on the boot partition, readable on any PC.
set -u

HERE=$(dirname "$(readlink -f "$0")")
BOOT=$(dirname "$HERE")
# The root file system it configures: / on the box; a scratch folder in test/deploy/image.test.ts.
ROOT=${SWARMGATE_FIRSTRUN_ROOT:-}
LIB="$ROOT/var/lib/swarmgate-firstboot"
STATUS="$HERE/status.txt"

log() {
  printf '%s firstrun: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >>"$STATUS"
  printf 'swarmgate firstrun: %s\n' "$*"
}

# KEY=value lines; values are taken verbatim (never evaluated).
conf() {
  [ -f "$2" ] || return 0
  sed -n "s/^$1=//p" "$2" | head -n 1
}

# Removes a file from the boot partition after overwriting what it held.
scrub() {
  [ -f "$1" ] || return 0
  size=$(wc -c <"$1")
  dd if=/dev/zero of="$1" bs=1 count="$size" conv=notrunc 2>/dev/null
  sync
  rm -f "$1"
}

log "started (boot partition $BOOT)"

install -d -m 0700 "$LIB" "$LIB/debs"
cp "$HERE/firstboot.sh" "$HERE/firstboot.conf" "$LIB/"
cp "$HERE"/debs/*.deb "$LIB/debs/" 2>/dev/null || log "no .deb in $HERE/debs: stage 2 will need the package installed some other way"
if [ -d "$HERE/debs/extra" ]; then
  install -d -m 0700 "$LIB/debs/extra"
  cp "$HERE"/debs/extra/*.deb "$LIB/debs/extra/" 2>/dev/null || true
fi
if [ -f "$HERE/enroll-token" ]; then
  install -m 0600 "$HERE/enroll-token" "$LIB/enroll-token"
  scrub "$HERE/enroll-token"
  log "enrollment token moved off the boot partition"
fi
chmod -R go-rwx "$LIB"

NAME=$(conf HOSTNAME "$LIB/firstboot.conf")
if [ -n "$NAME" ]; then
  OLD=$(tr -d ' \t\r\n' <"$ROOT/etc/hostname")
  printf '%s\n' "$NAME" >"$ROOT/etc/hostname"
  if grep -q '^127\.0\.1\.1' "$ROOT/etc/hosts"; then
    sed -i "s/^127\.0\.1\.1.*/127.0.1.1\t$NAME/" "$ROOT/etc/hosts"
  else
    printf '127.0.1.1\t%s\n' "$NAME" >>"$ROOT/etc/hosts"
  fi
  log "hostname $OLD -> $NAME"
fi

WIFI="$HERE/wifi.conf"
if [ -f "$WIFI" ]; then
  SSID=$(conf SSID "$WIFI")
  PSK=$(conf PSK "$WIFI")
  COUNTRY=$(conf COUNTRY "$WIFI")
  # NetworkManager keyfile (Raspberry Pi OS bookworm and later); backslashes escaped as keyfiles
  # need, and written with printf (dash's echo would turn \\ back into \).
  ssid_escaped=$(printf '%s' "$SSID" | sed 's/\\/\\\\/g')
  psk_escaped=$(printf '%s' "$PSK" | sed 's/\\/\\\\/g')
  NM="$ROOT/etc/NetworkManager/system-connections"
  install -d -m 0700 "$NM"
  umask 077
  {
    echo '[connection]'
    echo 'id=swarmgate-wifi'
    echo 'type=wifi'
    echo 'autoconnect=true'
    echo ''
    echo '[wifi]'
    echo 'mode=infrastructure'
    printf 'ssid=%s\n' "$ssid_escaped"
    echo ''
    echo '[wifi-security]'
    echo 'key-mgmt=wpa-psk'
    printf 'psk=%s\n' "$psk_escaped"
    echo ''
    echo '[ipv4]'
    echo 'method=auto'
    echo ''
    echo '[ipv6]'
    echo 'method=auto'
  } >"$NM/swarmgate-wifi.nmconnection"
  umask 022
  chmod 0600 "$NM/swarmgate-wifi.nmconnection"
  # The regulatory country unblocks the radio: on the kernel command line, as Raspberry Pi OS does.
  if [ -n "$COUNTRY" ] && ! grep -q "cfg80211.ieee80211_regdom=" "$BOOT/cmdline.txt"; then
    sed -i "1s/\$/ cfg80211.ieee80211_regdom=$COUNTRY/" "$BOOT/cmdline.txt"
  fi
  for state in "$ROOT"/var/lib/systemd/rfkill/*:wlan; do
    [ -f "$state" ] && echo 0 >"$state"
  done
  scrub "$WIFI"
  log "Wi-Fi network configured (SSID and key removed from the boot partition)"
fi

cp "$HERE/swarmgate-firstboot.service" "$ROOT/etc/systemd/system/swarmgate-firstboot.service"
install -d "$ROOT/etc/systemd/system/multi-user.target.wants"
ln -sf /etc/systemd/system/swarmgate-firstboot.service "$ROOT/etc/systemd/system/multi-user.target.wants/swarmgate-firstboot.service"
log "stage 2 (swarmgate-firstboot.service) installed; it runs after the reboot, once the network is up"

# Never run again: take this script off the kernel command line.
sed -i -e 's# systemd\.run=[^ ]*swarmgate/firstrun\.sh##' -e 's# systemd\.run_success_action=[^ ]*##' \
  -e 's# systemd\.unit=kernel-command-line\.target##' "$BOOT/cmdline.txt"
rm -f "$HERE/firstrun.sh"
sync
log "done; rebooting"
exit 0
