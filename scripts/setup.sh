#!/usr/bin/env bash
# Sets up a machine to run every Mooring test: Node packages (npm ci, which also builds dist/ and the
# browser bundle) and the Debian packages tests need:
#   chromium            the browser-client tests (headless, driven by playwright-core)
#   python3-websockets  the independent Python server the conformance suite is judged against
#                       (conformance/test/py-server, run with Debian's /usr/bin/python3)
#   nginx               the reverse-proxy integration test (started by the test on a free port)
#   redis-server        the multi-node (Redis broker) tests (started by the tests on free ports)
#   openssl             the TLS tests make a self-signed certificate with it at test time
# Installing Debian packages needs root, or sudo for a normal user. Idempotent: skips what is
# already installed. Run from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
/usr/bin/python3 -c 'import websockets' >/dev/null 2>&1 || missing+=(python3-websockets)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup: chromium: $(chromium --version 2>/dev/null || echo missing)"
echo "setup: nginx: $( (/usr/sbin/nginx -v 2>&1 || nginx -v 2>&1) | head -1 || echo missing)"
echo "setup: redis-server: $(redis-server --version 2>/dev/null || echo missing)"
echo "setup: python3-websockets: $(/usr/bin/python3 -c 'import websockets; print(websockets.__version__)' 2>/dev/null || echo missing)"

echo "setup: npm ci"
npm ci --no-audit --no-fund
