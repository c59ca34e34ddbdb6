#!/usr/bin/env bash
# Builds a real Teleport (auth + proxy, web UI off) and tctl from the Go module proxy, plus our
# probe and reference client, into a cache directory outside the repository. A second run finds
# the binaries and returns at once. Prints the directory holding the binaries on its last line of stdout.
#
# Env:
#   REAL_TELEPORT_CACHE  cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/teleport-audit/real-teleport)
#   REAL_TELEPORT_FORCE  set to 1 to rebuild even if the binaries exist
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${REAL_TELEPORT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/teleport-audit/real-teleport}"

# The Teleport version is the pseudo-version go.mod requires; the binaries' directory is keyed on
# it and on a hash of our own sources, so a change to either builds afresh.
version="$(awk '{ for (i = 1; i < NF; i++) if ($i == "github.com/gravitational/teleport" && $(i + 1) ~ /^v/) { print $(i + 1); exit } }' "$here/go.mod")"
if [[ -z "$version" ]]; then
    echo "build.sh: cannot find the github.com/gravitational/teleport requirement in $here/go.mod" >&2
    exit 1
fi
sources_hash="$(cd "$here" && cat go.mod go.sum $(find . -name '*.go' | sort) | sha256sum | cut -c1-12)"
bin_dir="$cache_root/$version-$sources_hash"
binaries=(teleport-noweb tctl probe refaudit)

# One build at a time per cache (run.sh and a manual build.sh may overlap).
mkdir -p "$cache_root"
exec 9>"$cache_root/.lock"
flock 9

have_all=1
for b in "${binaries[@]}"; do
    [[ -x "$bin_dir/$b" ]] || have_all=0
done
if [[ "$have_all" == 1 && "${REAL_TELEPORT_FORCE:-0}" != 1 ]]; then
    echo "build.sh: cached binaries in $bin_dir (warm: nothing to build)" >&2
    echo "$bin_dir"
    exit 0
fi

command -v go >/dev/null || { echo "build.sh: go is not installed" >&2; exit 1; }
command -v cc >/dev/null || { echo "build.sh: a C compiler is needed (Teleport's sqlite backend uses cgo)" >&2; exit 1; }

rm -rf "$bin_dir.tmp"
mkdir -p "$bin_dir.tmp"
# A Go build cache of our own, so the build neither depends on nor disturbs anyone else's.
export GOCACHE="$cache_root/gocache"
# Teleport is required at a pseudo-version that the checksum database does not list (release tags
# v2+ are not Go versions for this module path); go.sum pins its hash instead, and every module's
# hash, so with -mod=readonly nothing is looked up there.
export GONOSUMDB="github.com/gravitational/teleport"
export GOFLAGS="-mod=readonly"
export CGO_ENABLED=1

start=$(date +%s)
echo "build.sh: building Teleport $version (teleport-noweb, tctl), probe and refaudit into $bin_dir" >&2
(
    cd "$here"
    # -checklinkname=0: Go 1.23+ refuses the go:linkname references into the runtime that some of
    # Teleport v13's dependencies make (e.g. segmentio/parquet-go to runtime.aeskeysched).
    nice -n "${REAL_TELEPORT_NICE:-19}" go build -trimpath -ldflags="-s -w -checklinkname=0" -o "$bin_dir.tmp/" \
        ./cmd/teleport-noweb ./probe ./refaudit github.com/gravitational/teleport/tool/tctl
)
rm -rf "$bin_dir"
mv "$bin_dir.tmp" "$bin_dir"
# Binaries of other versions or older sources are not needed any more.
for old in "$cache_root"/v*; do
    [[ "$old" == "$bin_dir" ]] || rm -rf "$old"
done
end=$(date +%s)
echo "build.sh: built in $((end - start)) s" >&2
echo "$bin_dir"
