#!/usr/bin/env bash
# Installs what the tests use beyond Rust and Python 3: `jq`, a block-buffering JSON tool
# the command-function tests run for real (with and without --unbuffered). Debian or
# Ubuntu, as root (or with sudo). Does nothing when jq is already there.
set -euo pipefail
if command -v jq >/dev/null 2>&1; then
  exit 0
fi
sudo_if_needed=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_if_needed=(sudo)
fi
"${sudo_if_needed[@]}" apt-get update -qq
"${sudo_if_needed[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq
