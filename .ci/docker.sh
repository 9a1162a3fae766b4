#!/usr/bin/env bash
# Makes a Docker engine answer for the tests: installs Debian's docker.io
# when dockerd is absent, and starts dockerd (vfs storage) when nothing
# answers on the socket. Idempotent. Prints the DOCKER_HOST on stdout.
#   DOCKER_SOCK   the socket (default /var/run/docker.sock)
set -euo pipefail
DOCKER_SOCK=${DOCKER_SOCK:-/var/run/docker.sock}
host="unix://$DOCKER_SOCK"

answers() { curl -sf --unix-socket "$DOCKER_SOCK" http://localhost/_ping >/dev/null 2>&1; }

if ! answers; then
  if ! command -v dockerd >/dev/null 2>&1; then
    echo "docker.sh: installing the Docker engine (Debian package docker.io)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq docker.io curl >&2
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "docker.sh: dockerd must be started as root; start it, or run the tests as root" >&2
    exit 1
  fi
  # A socket or pid file left by a killed session blocks the start.
  rm -f "$DOCKER_SOCK" /var/run/docker.pid
  mkdir -p /tmp/mcpctl-docker
  nohup dockerd --host "$host" --storage-driver=vfs --data-root /var/lib/mcpctl-docker \
    --exec-root /var/run/mcpctl-docker --pidfile /var/run/docker.pid \
    >/tmp/mcpctl-docker/dockerd.log 2>&1 &
  for _ in $(seq 1 120); do
    answers && break
    sleep 0.5
  done
  if ! answers; then
    echo "docker.sh: dockerd did not answer within 60 s; its log:" >&2
    tail -n 30 /tmp/mcpctl-docker/dockerd.log >&2
    exit 1
  fi
fi
echo "$host"
