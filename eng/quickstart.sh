#!/usr/bin/env bash
# The main job: sets up whatever is missing, then builds and runs samples/Quickstart.
source "$(dirname "$0")/setup.sh"
cd "$REPO_ROOT/samples/Quickstart"
exec dotnet run -c Release --nologo "$@"
