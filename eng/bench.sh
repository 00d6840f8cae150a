#!/usr/bin/env bash
# Runs benchmarks (eng/bench/Supermachine.Bench) in Release: eng/bench.sh NAME|all
# Set-up first (the SDK benchmark consumes the packed packages), and the local registry
# (eng/registry.sh) up for the benchmarks that pull redis:7.
source "$(dirname "$0")/setup.sh"
source "$REPO_ROOT/eng/registry.sh"
registry_start
trap registry_stop EXIT
dotnet run -c Release --project "$REPO_ROOT/eng/bench/Supermachine.Bench" -- "$@"
