#!/usr/bin/env bash
# Sets up a machine to run every Mooring test: Node packages (npm ci, which also builds dist/ and the
# browser bundle) and the Debian packages tests need (chromium for the browser-client test).
# Idempotent: skips what is already installed. Run from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  echo "setup: installing Debian chromium (browser-client tests)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
echo "setup: chromium: $(chromium --version 2>/dev/null || echo missing)"

echo "setup: npm ci"
npm ci --no-audit --no-fund
