#!/usr/bin/env bash
# Quick start: builds the solution and runs the demo (three worker processes, a crash, a graceful stop, verified sums).
# Installs redis-server with apt-get when it is missing (needs root or sudo), unless --redis or ConnectionStrings__Redis
# points at an existing server. Arguments are passed to the demo, e.g. eng/demo.sh --streams 1000 --lease 2.
# Exit code: the demo's (0 only when every stream completed with the right sum and count).
set -euo pipefail
cd "$(dirname "$0")/.."

needs_redis=1
for arg in "$@"; do
  [ "$arg" = "--redis" ] && needs_redis=0
done
[ -n "${ConnectionStrings__Redis:-}" ] && needs_redis=0
if [ "$needs_redis" -eq 1 ]; then
  source eng/ensure-redis.sh
  ensure_redis_server
  # ensure_redis_server also accepts an existing test server: use it when there is no redis-server to start.
  if ! command -v redis-server >/dev/null 2>&1 && [ -n "${REDIS_TEST_CONNECTION:-}" ]; then
    export ConnectionStrings__Redis="$REDIS_TEST_CONNECTION"
  fi
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
configuration=${CONFIGURATION:-Release}
echo "== build ($configuration)"
dotnet build RecoverableStreams.Hosting.sln -c "$configuration" -nologo -v:q
echo "== demo"
exec dotnet "samples/RecoverableStreams.Demo/bin/$configuration/net10.0/RecoverableStreams.Demo.dll" "$@"
