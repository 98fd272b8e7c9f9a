#!/usr/bin/env bash
# Refreshes docs/dashboard.png: runs the dashboard browser test, which writes its screenshot where
# DASHBOARD_SCREENSHOT points. Needs redis-server and chromium (eng/ensure-redis.sh, eng/ensure-chromium.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source eng/ensure-redis.sh
ensure_redis_server
source eng/ensure-chromium.sh
ensure_chromium
DASHBOARD_SCREENSHOT="$PWD/docs/dashboard.png" dotnet test tests/RecoverableStreams.IntegrationTests -c Release --nologo \
  --filter "FullyQualifiedName~DashboardTests.The_dashboard_shows_consumers_owners_lag_and_dead_letters_and_refreshes_itself"
echo "wrote docs/dashboard.png"
