#!/usr/bin/env bash
# Regenerates the fault figures of docs/RELIABILITY.md: runs the fault scenarios (tests/RecoverableStreams.FaultTests)
# and prints their FIGURES lines, then one markdown table row per scenario with the exclusivity columns.
#
#   eng/reliability-figures.sh                 every scenario once (about 3 minutes on 2 cores)
#   SOAK_MINUTES=10 eng/reliability-figures.sh the soak: the mixed scenario's rounds of faults for 10 minutes
#                                              (SOAK_STREAMS streams, default 3000)
#   NO_BUILD=1 ...                             skip the build (the solution is built in Release already)
#
# Exits non-zero when a scenario fails. The workers' logs stay under
# tests/RecoverableStreams.FaultTests/bin/Release/net10.0/fault-logs/.
set -uo pipefail
cd "$(dirname "$0")/.."

source eng/ensure-redis.sh
ensure_redis_server || exit 1
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

if [ -z "${NO_BUILD:-}" ]; then
  dotnet build tests/RecoverableStreams.FaultTests -c Release -warnaserror -nologo -v:q || exit 1
fi

filter="FullyQualifiedName~FaultScenarioTests"
if [ -n "${SOAK_MINUTES:-}" ]; then
  export FAULT_SOAK_MINUTES="$SOAK_MINUTES" FAULT_SOAK_STREAMS="${SOAK_STREAMS:-3000}"
  filter="Name~All_faults_mixed"
  echo "== soak: FAULT_SOAK_MINUTES=$FAULT_SOAK_MINUTES FAULT_SOAK_STREAMS=$FAULT_SOAK_STREAMS"
fi

log=$(mktemp -t reliability-figures-XXXXXX.log)
dotnet test tests/RecoverableStreams.FaultTests -c Release --no-build --nologo --filter "$filter" \
  --logger "console;verbosity=detailed" >"$log" 2>&1
status=$?

# Each scenario prints its FIGURES line twice (progress and result): keep the first of each scenario.
figures=$(grep -o 'FIGURES | .*' "$log" | awk -F'|' '!seen[$2]++')
echo "$figures"
grep -E '^\s+target ' "$log" | sort -u
echo
echo "| scenario | streams checked | faults | faulted workers' streams taken over | faulted workers' late calls refused | their stale writes refused | overlapping owners | stale writes accepted | revived sessions | dead letters | longest renewal silence under CPU hog | drained after the last fault |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
echo "$figures" | awk -F' [|] ' '
  function after(field, label) { sub(".*" label " ", "", field); return field }
  {
    for (i = 1; i <= NF; i++) {
      if ($i ~ /checked$/) checked = after($i, "streams"); sub(" checked", "", checked)
      if ($i ~ /^faults /) faults = after($i, "faults")
      if ($i ~ /^faulted workers. streams taken over/) taken = after($i, "taken over")
      if ($i ~ /^faulted workers. late calls refused/) { late = $i; sub(/.*late calls refused /, "", late); sub(/,.*/, "", late); stale = $i; sub(/.*stale writes refused /, "", stale) }
      if ($i ~ /^overlapping owners/) overlaps = after($i, "owners")
      if ($i ~ /^stale writes accepted/) accepted = after($i, "accepted")
      if ($i ~ /^revived sessions/) revived = after($i, "sessions")
      if ($i ~ /^dead-lettered/) dead = after($i, "dead-lettered")
      if ($i ~ /^longest renewal silence/) gap = after($i, "CPU hog")
      if ($i ~ /^drained/) { drained = $i; sub(/^drained /, "", drained); sub(/ after the last fault ended.*/, "", drained) }
    }
    name = $2; gsub(/ +$/, "", name)
    printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name, checked, faults, taken, late, stale, overlaps, accepted, revived, dead, gap, drained
  }'
echo
grep -E '^\s+(Passed|Failed) |Total tests|Passed!|Failed!' "$log" | sed 's/^ *//' | sort | uniq -c | sort -rn | head -30
echo "(full log: $log)"
exit $status
