#!/usr/bin/env bash
# The fuzz check of the test suite: every fuzz target for SECONDS (default 60) without a crash.
#   eng/fuzz-ci.sh [SECONDS [TARGET...]]   (default: every target)
# Runs the targets one after another (each already replays its committed regression inputs),
# prints one line per target and a closing summary, and exits 1 when any target found a crash
# or could not run.
source "$(dirname "$0")/lib.sh"
seconds="${1:-60}"
targets=(dockerfile flattener squashfs frames session agent)
if [ $# -gt 1 ]; then
  targets=("${@:2}")
fi
summary=()
failed=0
for target in "${targets[@]}"; do
  log "fuzz-ci: $target for ${seconds}s"
  status=0
  output="$("$REPO_ROOT/eng/fuzz.sh" "$target" "$seconds" 2>&1)" || status=$?
  printf '%s\n' "$output" | tail -5
  # The C# targets print "fuzz T: N executions ..."; the agent runner prints its own count.
  line="$(printf '%s\n' "$output" | grep -E "^fuzz $target: [0-9]+ executions" | tail -1 || true)"
  [ -n "$line" ] || line="$(printf '%s\n' "$output" | grep -iE "exec" | tail -1 || true)"
  if [ "$status" -eq 0 ]; then
    summary+=("ok     $target  ${line:-done}")
  else
    failed=$((failed + 1))
    summary+=("FAILED $target  (exit $status) ${line:-see artifacts/fuzz/$target}")
  fi
done
echo
echo "fuzz summary (${seconds}s per target):"
printf '  %s\n' "${summary[@]}"
echo "fuzz: $(( ${#targets[@]} - failed )) targets clean, $failed with findings or not run"
# For eng/test.sh's closing line: clean targets count as passed checks, the others as failed.
if [ -n "${FUZZ_CI_COUNTS:-}" ]; then
  echo "$(( ${#targets[@]} - failed )) $failed" > "$FUZZ_CI_COUNTS"
fi
[ "$failed" -eq 0 ]
