#!/usr/bin/env bash
# The main job: sets up whatever is missing, starts the local registry standing in for Docker Hub,
# then builds and runs samples/Quickstart (which bakes redis:7 during the build and restores it).
source "$(dirname "$0")/setup.sh"
source "$REPO_ROOT/eng/registry.sh"
registry_start
trap registry_stop EXIT
cd "$REPO_ROOT/samples/Quickstart"
dotnet run -c Release --nologo "$@"
