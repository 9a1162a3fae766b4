#!/usr/bin/env bash
# Load run behind docs/benchmarks.md: audited, authenticated GET throughput
# of the real mcpd binary with hey, on SQLite and on PostgreSQL (a cluster
# with fsync on), plus the unauthenticated /healthz baseline in the same run;
# then the resource API at scale (apply of 1,000 servers, lists over 10,000),
# then the instance lifecycle (start to ready, 100 instances, log
# throughput), then the MCP gateway (latency, throughput, idle sessions),
# then the authorization overhead with 1,000 RbacDefinitions.
#   N=200000 C=32 make bench
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-200000}
C=${C:-32}
if ! command -v hey >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq hey
fi
pg=$(PGDIR=/tmp/mcpctl-pg-bench PGPORT=54330 PGFSYNC=on ./.ci/postgres.sh)
echo "| engine | endpoint | requests | connections | req/s | p50 ms | p99 ms | audit rows |"
echo "|---|---|---|---|---|---|---|---|"
go run ./test/loadrun -engine sqlite -n "$N" -c "$C" -bin bin
go run ./test/loadrun -engine postgres -pg-url "$pg" -n "$N" -c "$C" -bin bin
echo
echo "| engine | operation | time | memory / rate |"
echo "|---|---|---|---|"
go run ./test/loadrun -scenario resources -engine sqlite -bin bin
go run ./test/loadrun -scenario resources -engine postgres -pg-url "$pg" -bin bin
echo
# Instances: start to ready (process and Docker), 100 at once, log
# throughput. Docker needs an engine: .ci/docker.sh starts one.
DOCKER_HOST=$(./.ci/docker.sh)
export DOCKER_HOST
echo "| engine | runtime | operation | result |"
echo "|---|---|---|---|"
go run ./test/loadrun -scenario instances -engine sqlite -bin bin
go run ./test/loadrun -scenario instances -engine postgres -pg-url "$pg" -bin bin
echo
# The MCP gateway against the test server reached directly (make bench-gateway).
echo "| engine | measure | path | protocol | result |"
echo "|---|---|---|---|---|"
go run ./test/loadrun -scenario gateway -engine sqlite -bin bin
echo
# Authorization overhead with 1,000 RbacDefinitions (in-process, whole
# middleware stack): compare p50-ns of each route with healthz-baseline.
go test -run '^$' -bench Authorization -benchtime 20000x -count 3 ./internal/apiserver
