#!/usr/bin/env bash
# Adds every public symbol the PublicApiAnalyzers report as undeclared (RS0016) to the project's PublicAPI.Unshipped.txt.
# Usage: eng/update-public-api.sh src/RecoverableStreams
set -euo pipefail
project_dir=${1:?project folder}
unshipped="$project_dir/PublicAPI.Unshipped.txt"
for _ in 1 2 3; do
  symbols=$(dotnet build "$project_dir" --no-incremental 2>&1 | grep -o "error RS0016: Symbol '.*' is not part of the declared public API" \
    | sed -E "s/error RS0016: Symbol '(.*)' is not part of the declared public API/\1/" | sort -u || true)
  [ -z "$symbols" ] && break
  { cat "$unshipped"; printf '%s\n' "$symbols"; } | grep -v '^#nullable enable$' | sort -u > "$unshipped.tmp"
  { echo '#nullable enable'; cat "$unshipped.tmp"; } > "$unshipped"
  rm "$unshipped.tmp"
done
dotnet build "$project_dir" 2>&1 | grep -E "error|Build succeeded" | sort -u | head -40
