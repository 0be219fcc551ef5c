#!/usr/bin/env bash
# Bundles the official browser SDK (@heygen/streaming-avatar 2.1.0, pinned with its dependencies in
# package-lock.json) into one script for the e2e test page. Prints the bundle's path.
# Output goes to .cache/heygen-sdk/ (gitignored) and is rebuilt only when these inputs change.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${HEYGEN_SDK_CACHE:-$(cd "$here/../../.." && pwd)/.cache/heygen-sdk}"
stamp=$(cat "$here/package.json" "$here/package-lock.json" "$here/entry.js" | sha256sum | cut -c1-16)
if [ -f "$out/heygen-sdk.js" ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "$out/heygen-sdk.js"
  exit 0
fi
mkdir -p "$out"
cp "$here/package.json" "$here/package-lock.json" "$here/entry.js" "$out/"
(
  cd "$out"
  npm ci --no-audit --no-fund --loglevel=error
  ./node_modules/.bin/esbuild entry.js --bundle --format=iife --target=es2020 --outfile=heygen-sdk.js --log-level=warning
) >&2
echo "$stamp" >"$out/stamp"
echo "$out/heygen-sdk.js"
