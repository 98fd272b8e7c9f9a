# Sourced by eng/test.sh: the dashboard tests drive Debian's chromium through Playwright (ExecutablePath
# /usr/bin/chromium), so no browser is downloaded. Installs the package when it is missing.
ensure_chromium() {
  if command -v chromium >/dev/null 2>&1; then
    return 0
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "chromium is missing and this user cannot install it: run 'apt-get install -y chromium' as root." >&2
      return 1
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium is missing and apt-get is not available: install Chromium at /usr/bin/chromium." >&2
    return 1
  fi
  echo "== installing chromium (apt-get)"
  $sudo apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null || {
    echo "apt-get could not install chromium." >&2; return 1; }
  command -v chromium >/dev/null 2>&1
}
