#!/usr/bin/env bash
# Builds the guest agent as a static musl binary from the .c files beside this script (fuzz/ is
# not part of it), in one compiler call: build.sh OUT_DIR -> OUT_DIR/agent.
# Used by eng/setup.d/35-agent.sh and by the tests (which always test the agent of this checkout).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: build.sh OUT_DIR}"
mkdir -p "$out"
cc="${MUSL_GCC:-musl-gcc}"
tmp="$out/agent.tmp.$$"
"$cc" -static -Os -std=c11 -Wall -Wextra -Werror -Wno-unused-parameter \
  -ffunction-sections -fdata-sections -Wl,--gc-sections -s \
  -o "$tmp" "$here"/*.c
mv -f "$tmp" "$out/agent"
