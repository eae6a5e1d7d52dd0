#!/usr/bin/env bash
# The whole test suite: vet, then every package's tests, including the
# integration tests against a real kube-apiserver + etcd (built once from the
# Go module proxy and cached outside the repo).
set -euo pipefail
cd "$(dirname "$0")/.."

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt needed on:"; echo "$unformatted"; exit 1
fi
go vet ./...

# kube-apiserver and etcd for the integration tests: about 10 minutes on a
# fresh 2-core machine, instant once cached in ${MESHREADY_BIN_CACHE:-~/.cache/meshready/bin}.
export MESHREADY_BIN_CACHE="${MESHREADY_BIN_CACHE:-$HOME/.cache/meshready/bin}"
bash tools/testcluster/build.sh >/dev/null
# The cluster tests must run, not skip, wherever this script runs.
export MESHREADY_REQUIRE_CLUSTER=1

go test -count=1 ./... "$@"
