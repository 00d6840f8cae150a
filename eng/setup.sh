#!/usr/bin/env bash
# All set-up a fresh machine needs, idempotent: each step in eng/setup.d checks what is already in
# place and does only what is missing, so a second run takes seconds.
source "$(dirname "$0")/lib.sh"
# A step that fails ends set-up through set -e; say which one, since its own output may be silent.
trap 'log "set-up failed in ${step#"$REPO_ROOT"/} (exit $?)"' ERR
for step in "$REPO_ROOT"/eng/setup.d/*.sh; do
  # shellcheck source=/dev/null
  source "$step"
done
trap - ERR
log "ready"
