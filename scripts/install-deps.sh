#!/usr/bin/env bash
# install-deps.sh — install what ctgi needs on Debian 12 (idempotent, no prompts).
#   scripts/install-deps.sh          build + run dependencies
#   scripts/install-deps.sh --test   also what the test suite needs (cmocka, chromium, node/npm packages)
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(gcc make pkg-config libmicrohttpd-dev libjansson-dev libopenblas-dev libopenblas-pthread-dev
      libuv1-dev libpcre2-dev libutf8proc-dev libxxhash-dev libcurl4-openssl-dev)
if [ "${1:-}" = "--test" ]; then
    pkgs+=(libcmocka-dev curl valgrind) # valgrind: make test-valgrind
    pkgs+=(openssl python3) # tests/server/security_test.sh: a self-signed certificate, raw slow sockets
    pkgs+=(python3-numpy) # tests/engine/model/arch_ref.py: the float64 reference of arch_ref_test
    pkgs+=(chromium) # the chat page's browser test (tests/server/chat_ui_test.sh, playwright-core)
    # tests/docker: podman builds and runs the image (rootful, runc, netavark), debootstrap makes its base
    pkgs+=(podman runc netavark iptables debootstrap python3-yaml)
    command -v node >/dev/null 2>&1 || pkgs+=(nodejs npm)
    pkgs+=(clang libclang-rt-14-dev) # tests/fuzz: libFuzzer + ASan/UBSan runtimes of clang 14
fi

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get install -y --no-install-recommends "${missing[@]}" ||
        { $SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends "${missing[@]}"; }
fi

if [ "${1:-}" = "--test" ] && [ -f tests/js/package-lock.json ]; then
    if [ ! -d tests/js/node_modules ] || [ tests/js/package-lock.json -nt tests/js/node_modules ]; then
        (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
    fi
fi
