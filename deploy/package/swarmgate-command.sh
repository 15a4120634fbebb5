#!/bin/sh
# `swarmgate` on a gateway installed from the swarmgate-edge package (deploy/package, filled by
# build-deb.ts). The app under @APP_DIR@ is the gateway service's own to update: the @SERVICE_USER@
# user unpacks releases and switches `current`. So root never runs that code: started as root
# (`sudo swarmgate ...`, first boot), the command runs as @SERVICE_USER@, with its groups (gpio,
# dialout), who owns what the command works on (@CONFIG_DIR@, @STATE_DIR@). Any other user runs
# it as themselves.
app=@APP_DIR@/bin/swarmgate.js
if [ "$(id -u)" = 0 ] && id -u @SERVICE_USER@ >/dev/null 2>&1; then
  export HOME=@STATE_DIR@
  exec setpriv --reuid=@SERVICE_USER@ --regid=@SERVICE_USER@ --init-groups -- @NODE@ --max-semi-space-size=2 "$app" "$@"
fi
exec @NODE@ --max-semi-space-size=2 "$app" "$@"
