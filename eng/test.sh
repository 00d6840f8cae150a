#!/usr/bin/env bash
# The test command: sets up whatever is missing, starts the local registry the SDK tests and
# samples pull from, runs every test project, and prints one closing line
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
python3 - "$results" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
p = f = s = 0
for trx in glob.glob(sys.argv[1] + "/*.trx"):
    c = ET.parse(trx).getroot().find(".//{*}Counters")
    p += int(c.get("passed")); f += int(c.get("failed")) + int(c.get("error", 0)); s += int(c.get("notExecuted", 0))
print(f"{p} passed, {f} failed, {s} skipped")
PY
exit $status
