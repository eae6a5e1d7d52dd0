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

if [ -x tools/testcluster/build.sh ] || [ -f tools/testcluster/build.sh ]; then
  bin_dir=$(bash tools/testcluster/build.sh | tail -n 1)
  export MESHREADY_BIN_DIR="$bin_dir"
  # The cluster tests must run, not skip, wherever this script runs.
  export MESHREADY_REQUIRE_CLUSTER=1
fi

go test -count=1 ./... "$@"
