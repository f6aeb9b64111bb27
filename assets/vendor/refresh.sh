#!/usr/bin/env bash
# Refreshes the vendored chart library (uPlot) from its npm package, so the
# pages work with no internet. Usage: assets/vendor/refresh.sh [VERSION]
# Needs npm; commit the files it writes to assets/vendor/uplot/.
set -euo pipefail
version="${1:-latest}"
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "uplot@$version" >/dev/null)
tar -xzf "$tmp"/uplot-*.tgz -C "$tmp"
dest="$here/uplot"
mkdir -p "$dest"
cp "$tmp/package/dist/uPlot.iife.min.js" "$tmp/package/dist/uPlot.min.css" "$tmp/package/LICENSE" "$dest/"
node -e 'process.stdout.write(require(process.argv[1]).version)' "$tmp/package/package.json" >"$dest/VERSION"
echo "uplot $(cat "$dest/VERSION") vendored into $dest"
