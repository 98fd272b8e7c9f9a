#!/usr/bin/env bash
# Builds with warnings as errors, packs every src project (eng/pack.sh) and runs every test project against a real Redis.
# Installs redis-server with apt-get when neither Docker nor redis-server is present (needs root or sudo).
# Prints one closing line: "N passed, N failed" (totals over all test projects).
set -uo pipefail
cd "$(dirname "$0")/.."

source eng/ensure-redis.sh
ensure_redis_server || exit 1
source eng/ensure-chromium.sh
ensure_chromium || exit 1

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
results_dir=$(mktemp -d -t recoverable-streams-tests-XXXXXX)
trap 'rm -rf "$results_dir"' EXIT

echo "== build (warnings are errors)"
if ! dotnet build RecoverableStreams.Hosting.sln -c Release -warnaserror -nologo -v:q; then
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi

# Every src project packed as it would ship (MinVer version, symbols, package validation); the packed-package smoke
# test (tests/RecoverableStreams.IntegrationTests/Packaging) installs these into a fresh project outside the solution.
echo "== pack (artifacts/packages)"
if ! bash eng/pack.sh artifacts/packages; then
  echo "pack failed"
  echo "0 passed, 1 failed"
  exit 1
fi
export RECOVERABLESTREAMS_PACKAGES="$PWD/artifacts/packages"

status=0
for project in $(ls tests/*/*.csproj | sort); do
  name=$(basename "$project" .csproj)
  # Only projects that are test projects (a console helper under tests/ is not).
  grep -q 'IsTestProject>false' "$project" && continue
  echo "== $name"
  dotnet test "$project" -c Release --no-build --nologo \
    --logger "trx;LogFileName=$name.trx" --results-directory "$results_dir" \
    --logger "console;verbosity=normal" "$@" || status=1
done

passed=0; failed=0
for trx in "$results_dir"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  p=$(sed -E 's/.* passed="([0-9]+)".*/\1/' <<<"$counters")
  f=$(sed -E 's/.* failed="([0-9]+)".*/\1/' <<<"$counters")
  e=$(sed -E 's/.* error="([0-9]+)".*/\1/' <<<"$counters")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0} + ${e:-0}))
done
# The names of failed tests and the start of each message, right above the closing line, so that a CI log cut to its
# tail still says what failed.
for trx in "$results_dir"/*.trx; do
  [ -f "$trx" ] || continue
  awk '
    /<UnitTestResult / {
      failed = ($0 ~ /outcome="Failed"/); inmsg = 0; msg = ""; lines = 0
      if (failed) { match($0, /testName="[^"]*"/); name = substr($0, RSTART + 10, RLENGTH - 11) }
    }
    failed && /<Message>/ { inmsg = 1 }
    failed && inmsg {
      line = $0; sub(/.*<Message>/, "", line); closed = sub(/<\/Message>.*/, "", line)
      gsub(/^ +| +$/, "", line)
      if (line != "" && lines < 4) { msg = msg (lines ? " | " : "") line; lines++ }
      if (closed) inmsg = 0
    }
    failed && /<\/UnitTestResult>/ { print "FAILED " name (msg != "" ? ": " substr(msg, 1, 400) : ""); failed = 0 }
  ' "$trx"
done
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1   # a test host crashed or a project did not run: never report green
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
