#!/usr/bin/env bash
# `make run`: start mcpd on the embedded defaults (SQLite in
# ~/.local/share/mcpd, the process runtime, http://127.0.0.1:3100) and take
# it to a working MCP endpoint: log in as the bootstrap admin, apply
# examples/quickstart (two npm servers, one project), wait until the
# servers run, create an McpToken, check the endpoint with
# `mcpctl test mcp`, and print what to paste into Claude Code or any MCP
# client. mcpd keeps running in the foreground; Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
URL=${MCPD_URL:-http://127.0.0.1:3100}
DATA=${MCPD_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/mcpd}
PROJECT=quickstart

if curl -fsS "$URL/healthz" >/dev/null 2>&1; then
  echo "run: something already answers on $URL; stop it first (or set MCPD_LISTEN and MCPD_URL)" >&2
  exit 1
fi
"$BIN/mcpd" &
MCPD=$!
trap 'kill -TERM $MCPD 2>/dev/null; wait $MCPD 2>/dev/null' EXIT INT TERM
for _ in $(seq 1 100); do
  curl -fsS "$URL/healthz" >/dev/null 2>&1 && break
  kill -0 $MCPD 2>/dev/null || { echo "run: mcpd stopped; see its log above" >&2; exit 1; }
  sleep 0.1
done

ctl() { "$BIN/mcpctl" "$@"; }
if ! ctl status >/dev/null 2>&1; then
  if [ ! -f "$DATA/bootstrap-admin-password" ]; then
    echo "run: not logged in and $DATA/bootstrap-admin-password is gone (the password was changed);" >&2
    echo "     log in with: $BIN/mcpctl login --mcpd-url $URL --email <admin email>" >&2
    wait $MCPD
  fi
  ctl login --mcpd-url "$URL" --email "${MCPD_BOOTSTRAP_ADMIN_EMAIL:-admin@mcpctl.local}" --password-stdin < "$DATA/bootstrap-admin-password" >/dev/null
fi
ctl apply -f examples/quickstart/ >/dev/null
echo "run: applied examples/quickstart; waiting for its servers (npx downloads them the first time)..."
for server in memory thinking; do
  for i in $(seq 1 300); do
    ctl get instances --server "$server" -o json 2>/dev/null | grep -q '"state": *"running"' && break
    [ "$i" = 300 ] && { echo "run: server $server is not running after 5 minutes; see: $BIN/mcpctl get instances" >&2; }
    sleep 1
  done
done
TOKEN=$(ctl create mcptoken quickstart -p "$PROJECT" --bind role:view,resource:projects --ttl 30d --force -o json |
  sed -n 's/.*"token": *"\(mcpctl_pat_[A-Za-z0-9]*\)".*/\1/p')
ENDPOINT="$URL/projects/$PROJECT/mcp"
echo
ctl test mcp "$ENDPOINT" --token "$TOKEN" --protocol-version 2025-11-25 || true
cat <<MSG

The MCP endpoint of project $PROJECT is ready:
  $ENDPOINT
with the McpToken (shown once; valid 30 days):
  $TOKEN

Claude Code:
  claude mcp add --transport http $PROJECT $ENDPOINT --header "Authorization: Bearer $TOKEN"
or, as a project-scoped .mcp.json entry:
$(ctl config claude --project "$PROJECT" --http --token "$TOKEN" --print 2>/dev/null)
or through mcplocal on STDIO, with your mcpctl login:
  claude mcp add $PROJECT -- $PWD/$BIN/mcplocal stdio --project $PROJECT

mcpd keeps running here; Ctrl-C stops it.
MSG
wait $MCPD
