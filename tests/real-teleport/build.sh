#!/usr/bin/env bash
# Builds a real Teleport (auth + proxy + node, web UI off), tctl and tsh from the Go module proxy, plus our
# probe and reference client, into a cache directory outside the repository. A second run finds
# the binaries and returns at once. Prints the directory holding the binaries on its last line of stdout.
#
# Env:
#   REAL_TELEPORT_VERSION  which Teleport: 13 (13.3.8, go.mod) or 14 (14.2.3, go14.mod); default 13
#   REAL_TELEPORT_CACHE    cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/teleport-audit/real-teleport)
#   REAL_TELEPORT_FORCE    set to 1 to rebuild even if the binaries exist
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${REAL_TELEPORT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/teleport-audit/real-teleport}"

# One set of Go sources, one module file per Teleport version (`go build -modfile`).
major="${REAL_TELEPORT_VERSION:-13}"
case "$major" in
    13) modfile=go.mod ;;
    14) modfile=go14.mod ;;
    *) echo "build.sh: REAL_TELEPORT_VERSION must be 13 or 14, not '$major'" >&2; exit 2 ;;
esac
sumfile="${modfile%.mod}.sum"

# The Teleport version is the pseudo-version the module file requires; the binaries' directory
# (one per major version) is keyed on it and on a hash of our own sources, so a change to either
# builds afresh.
version="$(awk '{ for (i = 1; i < NF; i++) if ($i == "github.com/gravitational/teleport" && $(i + 1) ~ /^v/) { print $(i + 1); exit } }' "$here/$modfile")"
if [[ -z "$version" ]]; then
    echo "build.sh: cannot find the github.com/gravitational/teleport requirement in $here/$modfile" >&2
    exit 1
fi
sources_hash="$(cd "$here" && cat "$modfile" "$sumfile" $(find . -name '*.go' | sort) | sha256sum | cut -c1-12)"
version_dir="$cache_root/teleport-$major"
bin_dir="$version_dir/$version-$sources_hash"
binaries=(teleport-noweb tctl tsh probe refaudit)

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
# A Go build cache (shared by both versions: it is keyed by content, and the versions share many
# modules) of our own, so the build neither depends on nor disturbs anyone else's.
export GOCACHE="$cache_root/gocache"
# Teleport is required at a pseudo-version that the checksum database does not list (release tags
# v2+ are not Go versions for this module path); go.sum pins its hash instead, and every module's
# hash, so with -mod=readonly nothing is looked up there.
export GONOSUMDB="github.com/gravitational/teleport"
export GOFLAGS="-mod=readonly"
export CGO_ENABLED=1

start=$(date +%s)
echo "build.sh: building Teleport $major ($version: teleport-noweb, tctl, tsh), probe and refaudit into $bin_dir" >&2
(
    cd "$here"
    # -checklinkname=0: Go 1.23+ refuses the go:linkname references into the runtime that some of
    # Teleport v13's dependencies make (e.g. segmentio/parquet-go to runtime.aeskeysched).
    nice -n "${REAL_TELEPORT_NICE:-19}" go build -modfile="$modfile" -trimpath -ldflags="-s -w -checklinkname=0" -o "$bin_dir.tmp/" \
        ./cmd/teleport-noweb ./probe ./refaudit github.com/gravitational/teleport/tool/tctl \
        github.com/gravitational/teleport/tool/tsh
)
rm -rf "$bin_dir"
mv "$bin_dir.tmp" "$bin_dir"
# Binaries of this major version's older sources (and of the layout before one directory per
# version, "$cache_root"/v*) are not needed any more.
for old in "$version_dir"/v* "$cache_root"/v*; do
    [[ "$old" == "$bin_dir" ]] || rm -rf "$old"
done
end=$(date +%s)
echo "build.sh: built in $((end - start)) s" >&2
echo "$bin_dir"
