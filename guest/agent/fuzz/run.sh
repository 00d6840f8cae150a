#!/usr/bin/env bash
# Coverage-guided fuzzing of the agent's frame parser (guest/agent/frame.c) with libFuzzer:
#   guest/agent/fuzz/run.sh SECONDS
# Builds fuzz_frames.c with clang (-fsanitize=fuzzer,address,undefined) into
# artifacts/fuzz/agent/ (never the source tree), replays every committed input (seeds/ and
# regressions/: a crash once found stays fixed), then fuzzes for SECONDS (0: replay only).
# Prints the executions count. Exits non-zero on a crash, leak or failed check, leaving the
# input that caused it in artifacts/fuzz/agent/crashes/ (copy it to regressions/ with the fix).
# The toolchain comes from eng/setup.d/37-agent-fuzz.sh; eng/fuzz.sh agent SECONDS calls this.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
seconds="${1:?usage: run.sh SECONDS}"
case "$seconds" in '' | *[!0-9]*) echo "run.sh: SECONDS must be a whole number, not '$seconds'" >&2; exit 2 ;; esac

out="${SM_AGENT_FUZZ_OUT:-$repo/artifacts/fuzz/agent}"
mkdir -p "$out/corpus" "$out/crashes"
cc="${CLANG:-clang}"
if ! command -v "$cc" >/dev/null; then
  echo "run.sh: $cc not found; run eng/setup.sh (step 37-agent-fuzz.sh installs clang and libclang-rt-14-dev)" >&2
  exit 2
fi

# Build: the harness with the agent's own parser sources, nothing else of the agent.
"$cc" -g -O1 -std=c11 -Wall -Wextra -Werror -Wno-unused-parameter \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -I "$here/.." -o "$out/fuzz_frames.tmp" \
  "$here/fuzz_frames.c" "$here/../frame.c" "$here/../util.c" 2>"$out/build.log" || {
  cat "$out/build.log" >&2
  echo "run.sh: building the harness failed (is libclang-rt-14-dev installed? see eng/setup.d/37-agent-fuzz.sh)" >&2
  exit 2
}
mv -f "$out/fuzz_frames.tmp" "$out/fuzz_frames"

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
common=(-max_len=140000 -rss_limit_mb=2048 -timeout=10 "-artifact_prefix=$out/crashes/")

# Replay: every committed input once.
mapfile -t committed < <(find "$here/seeds" "$here/regressions" -type f ! -name '*.md' 2>/dev/null | LC_ALL=C sort)
if [ ${#committed[@]} -gt 0 ]; then
  if ! "$out/fuzz_frames" "${common[@]}" "${committed[@]}" >"$out/replay.log" 2>&1; then
    cat "$out/replay.log" >&2
    echo "agent fuzz: a committed input fails (replayed ${#committed[@]}); see above" >&2
    exit 1
  fi
fi
echo "agent fuzz: replayed ${#committed[@]} committed inputs"
[ "$seconds" -eq 0 ] && exit 0

# Fuzz: new inputs go to the corpus in artifacts/, seeds/ is read only.
rc=0
"$out/fuzz_frames" "${common[@]}" -max_total_time="$seconds" -print_final_stats=1 \
  "$out/corpus" "$here/seeds" >"$out/fuzz.log" 2>&1 || rc=$?
execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/fuzz.log" | tail -1)"
if [ -z "$execs" ]; then
  execs="$(grep -o '#[0-9]*' "$out/fuzz.log" | tail -1 | tr -d '#')"
fi
echo "agent fuzz: ${execs:-0} executions in ${seconds} s, corpus $(find "$out/corpus" -type f | wc -l) inputs"
if [ "$rc" -ne 0 ]; then
  tail -n 60 "$out/fuzz.log" >&2
  echo "agent fuzz: FAILED (exit $rc) at the first failure above; the input is in $out/crashes/:" >&2
  ls -1 "$out/crashes" >&2
  exit 1
fi
