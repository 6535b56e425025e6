#!/usr/bin/env bash
# Makes sure Docker Engine answers on /var/run/docker.sock: installs it from Debian's
# packages when missing and starts it when it is not running. A running dockerd is left
# alone. On a host without systemd, dockerd is started in the background, logging to
# /var/log/dockerd.log, and keeps running after this script ends.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/ensure-deps.sh"

answers() { timeout 5 curl -fsS --unix-socket /var/run/docker.sock http://docker/_ping >/dev/null 2>&1; }
answers && exit 0

if [[ -d /run/systemd/system ]] && systemctl start docker 2>/dev/null; then
  :
else
  echo "ensure-docker: starting dockerd (log: /var/log/dockerd.log)" >&2
  setsid nohup dockerd >>/var/log/dockerd.log 2>&1 </dev/null &
fi
for _ in $(seq 1 120); do
  answers && exit 0
  sleep 0.5
done
echo "ensure-docker: dockerd did not answer within 60s; see /var/log/dockerd.log" >&2
exit 1
