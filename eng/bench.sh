#!/usr/bin/env bash
# Runs benchmarks (eng/bench/Supermachine.Bench) in Release: eng/bench.sh NAME|all
source "$(dirname "$0")/lib.sh"
exec dotnet run -c Release --project "$REPO_ROOT/eng/bench/Supermachine.Bench" -- "$@"
