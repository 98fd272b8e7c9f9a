#!/usr/bin/env bash
# Runs every benchmark row (this library vs the Go library's TTL-key mechanism vs RedLock.net, N = 1k, 10k, 100k) and
# regenerates docs/BENCHMARKS.md with its SVG charts under docs/benchmarks/. Installs redis-server with apt-get when it
# is missing (needs root or sudo); the benchmark starts its own redis-server on a free loopback port and stops it.
#
#   eng/bench.sh                 full run (≲ 25 min on 2 cores)
#   eng/bench.sh --quick         N capped at 1,000, short windows (a few minutes)
#   BENCH_MAX_STREAMS=10000 eng/bench.sh          cap N (also: --max-streams 10000, or --sizes 1000,10000)
#   BENCH_SOAK_SECONDS=300 eng/bench.sh           the issue's 5-minute soak (default 60 s; quick 10 s)
#   BENCH_WINDOW_SECONDS=30 eng/bench.sh          the idle windows (default 15 s; quick 5 s)
#   BENCH_PICKUPS=200 eng/bench.sh                pickups per N (default 100; quick 20)
#   eng/bench.sh --cluster       a local 3-primary Redis Cluster (started and stopped here, by PID): 1,000,000 idle
#                                streams with readers over 4 consumer processes, 2 s leases, 5 minutes, then a crash;
#                                writes benchmarks/results/cluster-<time>.md. Reduced scale:
#   BENCH_CLUSTER_STREAMS=20000 BENCH_DURATION=30 eng/bench.sh --cluster
#                                (also BENCH_CLUSTER_CONSUMERS=4, BENCH_CLUSTER_PARTITIONS=12)
# Other arguments go to the suite scenario (see benchmarks/README.md). Exit code: the benchmark's.
set -euo pipefail
cd "$(dirname "$0")/.."

source eng/ensure-redis.sh
ensure_redis_server
if ! command -v redis-server >/dev/null 2>&1; then
  echo "eng/bench.sh needs redis-server on PATH (the benchmark measures the server's own CPU)." >&2
  exit 1
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
echo "== build (Release)"
dotnet build benchmarks/RecoverableStreams.Benchmarks/RecoverableStreams.Benchmarks.csproj -c Release -nologo -v:q
echo "== benchmarks (load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown))"
scenario=suite
args=()
for arg in "$@"; do
  if [[ "$arg" == "--cluster" ]]; then scenario=cluster; else args+=("$arg"); fi
done
exec dotnet benchmarks/RecoverableStreams.Benchmarks/bin/Release/net10.0/RecoverableStreams.Benchmarks.dll "$scenario" ${args[@]+"${args[@]}"}
