#!/usr/bin/env bash
# Builds the kube-apiserver and etcd binaries used by internal/testcluster
# into a cache directory outside the repository, and prints that directory.
#
#   ${MESHREADY_BIN_CACHE:-$HOME/.cache/meshready/bin}/kube-apiserver-<version>
#   ${MESHREADY_BIN_CACHE:-$HOME/.cache/meshready/bin}/etcd-<version>
#
# A binary that is already in the cache is not rebuilt. Versions come from
# go.mod (kube-apiserver) and etcd/go.mod (etcd), so bumping a version there
# produces a new cache entry. Build output goes to stderr; stdout carries
# only the cache directory, so callers can do:
#
#   dir=$(bash tools/testcluster/build.sh)
#
# kube-apiserver takes about 6 minutes on 2 cores from a cold Go build cache.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${MESHREADY_BIN_CACHE:-${HOME}/.cache/meshready/bin}"
mkdir -p "$cache"

export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:-} -mod=readonly -trimpath"

log() { echo "build.sh: $*" >&2; }

modversion() { # dir module
	(cd "$1" && go list -m -f '{{.Version}}' "$2")
}

# build <module dir> <package> <output> <ldflags>
build() {
	local dir=$1 pkg=$2 out=$3 ldflags=$4
	if [[ -x "$out" ]]; then
		log "cached: $out"
		return 0
	fi
	tmp="$out.tmp.$$" # global: the EXIT trap may run after this function returns
	trap 'rm -f "$tmp"' EXIT
	log "building $pkg -> $out"
	local start=$SECONDS
	(cd "$dir" && go build -ldflags "$ldflags" -o "$tmp" "$pkg") >&2
	mv -f "$tmp" "$out"
	trap - EXIT
	log "built $(basename "$out") in $((SECONDS - start))s"
}

k8s_version="$(modversion "$here" k8s.io/kubernetes)"   # e.g. v1.37.2
etcd_version="$(modversion "$here/etcd" go.etcd.io/etcd/server/v3)" # e.g. v3.6.16

if [[ ! "$k8s_version" =~ ^v([0-9]+)\.([0-9]+)\.[0-9]+$ ]]; then
	log "unexpected k8s.io/kubernetes version: $k8s_version"
	exit 1
fi
k8s_major=${BASH_REMATCH[1]}
k8s_minor=${BASH_REMATCH[2]}

# Without these the binary reports v0.0.0-master, which fails version checks
# in clients and tests.
vpkg=k8s.io/component-base/version
k8s_ldflags="-s -w -X $vpkg.gitVersion=$k8s_version -X $vpkg.gitMajor=$k8s_major -X $vpkg.gitMinor=$k8s_minor -X $vpkg.gitTreeState=clean"

build "$here/etcd" go.etcd.io/etcd/server/v3 "$cache/etcd-$etcd_version" "-s -w"
build "$here" k8s.io/kubernetes/cmd/kube-apiserver "$cache/kube-apiserver-$k8s_version" "$k8s_ldflags"

echo "$cache"
