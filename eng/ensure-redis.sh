# Sourced by eng/test.sh and eng/demo.sh: makes sure the tests and the demo have a Redis to start.
# REDIS_TEST_CONNECTION (an existing server) or redis-server on PATH is enough; a Docker engine alone serves the
# tests (Testcontainers) but every path here prefers a local process. Installs Debian's redis-server when missing.
# The topology tests (tests/RecoverableStreams.IntegrationTests/Topologies: Redis Cluster, Sentinel) always need local
# redis-server and redis-cli processes, whatever REDIS_TEST_CONNECTION or Docker offer: without them they fail and say so.
ensure_redis_server() {
  if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
    return 0
  fi
  if [ -n "${REDIS_TEST_CONNECTION:-}" ]; then
    return 0
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "redis-server is missing and this user cannot install it: run 'apt-get install -y redis-server' as root, or set REDIS_TEST_CONNECTION=host:port." >&2
      return 1
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    if docker info >/dev/null 2>&1; then
      echo "note: redis-server/redis-cli are missing: the Redis Cluster and Sentinel tests will fail (they start local processes); install Redis 7+." >&2
      return 0
    fi
    echo "redis-server is missing and apt-get is not available: install Redis 6.2+ (redis-server on PATH) or set REDIS_TEST_CONNECTION=host:port." >&2
    return 1
  fi
  echo "== installing redis-server (apt-get)"
  $sudo apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server redis-tools >/dev/null || {
    echo "apt-get could not install redis-server." >&2; return 1; }
  # Debian's package may start a system service on 6379; the tests and the demo start their own servers.
  command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1
}
