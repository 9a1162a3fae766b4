#!/usr/bin/env bash
# The whole test suite: what `make test` and CI run. Starts PostgreSQL (and
# installs it when absent) and a Docker engine (likewise), then gofmt, go vet
# and go test -race.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null 2>&1; then
  echo "test.sh: Go is not installed (need Go 1.26: https://go.dev/dl/)" >&2
  exit 1
fi
MCPD_TEST_DATABASE_URL=$(./.ci/postgres.sh)
export MCPD_TEST_DATABASE_URL
echo "test.sh: PostgreSQL for tests at $MCPD_TEST_DATABASE_URL"
DOCKER_HOST=$(./.ci/docker.sh)
export DOCKER_HOST
echo "test.sh: Docker engine for tests at $DOCKER_HOST"

# The MCP conformance suite (Node 22 and the suite from the npm registry,
# pinned in conformance.sh), for the gateway's conformance tests.
for v in 0.1.16 0.2.0-alpha.12; do
  MCPCTL_CONFORMANCE_VERSION=$v ./.ci/conformance.sh install >/dev/null
done
echo "test.sh: MCP conformance suites installed"

echo "test.sh: gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bin/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
echo "test.sh: go vet"
go vet ./...
echo "test.sh: go test -race"
go test -race -count=1 -timeout 20m ./...
