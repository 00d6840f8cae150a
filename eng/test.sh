#!/usr/bin/env bash
# The test command: sets up whatever is missing, starts the local registry the SDK tests and
# samples pull from, runs every test project, fuzzes each required target for 60 s (the issue-12
# targets; a target that finds a crash counts as a failed check), and prints one closing line
# "N passed, N failed, N skipped".
source "$(dirname "$0")/setup.sh"
source "$REPO_ROOT/eng/registry.sh"
registry_start
trap registry_stop EXIT
cd "$REPO_ROOT"
results="$REPO_ROOT/artifacts/test-results"
rm -rf "$results"
status=0
dotnet test Supermachine.sln -c Release --nologo --logger "trx" --results-directory "$results" "$@" || status=$?
dotnet test samples/RedisTests/RedisTests.csproj -c Release --nologo --logger "trx" --results-directory "$results" || status=$?
dotnet test samples/PostgresTests/PostgresTests.csproj -c Release --nologo --logger "trx" --results-directory "$results" || status=$?
fuzz_counts="$results/fuzz-counts"
FUZZ_CI_COUNTS="$fuzz_counts" "$REPO_ROOT/eng/fuzz-ci.sh" "${SUPERMACHINE_FUZZ_SECONDS:-60}" dockerfile flattener squashfs frames agent || status=$?
python3 - "$results" "$fuzz_counts" <<'PY'
import glob, os, sys, xml.etree.ElementTree as ET
p = f = s = 0
if os.path.exists(sys.argv[2]):
    clean, found = map(int, open(sys.argv[2]).read().split())
    p += clean; f += found
else:
    f += 1  # the fuzz check did not report: count it as failed
for trx in glob.glob(sys.argv[1] + "/*.trx"):
    c = ET.parse(trx).getroot().find(".//{*}Counters")
    p += int(c.get("passed")); f += int(c.get("failed")) + int(c.get("error", 0)); s += int(c.get("notExecuted", 0))
print(f"{p} passed, {f} failed, {s} skipped")
PY
exit $status
