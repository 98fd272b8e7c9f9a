#!/usr/bin/env bash
# Packs every project under src/ into artifacts/packages: one .nupkg and one .snupkg (symbols) each, versioned from
# git tags by MinVer (docs/RELEASING.md), as a deterministic CI build with SourceLink. Package validation runs as part
# of the pack. Usage: eng/pack.sh [output-folder]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-artifacts/packages}"
mkdir -p "$out"
rm -f "$out"/*.nupkg "$out"/*.snupkg
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
for project in $(ls src/*/*.csproj | sort); do
  echo "== pack $project"
  dotnet pack "$project" -c Release -o "$out" -nologo -v:q -p:ContinuousIntegrationBuild=true
done
ls -1 "$out"
