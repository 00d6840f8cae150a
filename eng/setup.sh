#!/usr/bin/env bash
# All set-up a fresh machine needs, idempotent: each step in eng/setup.d checks what is already in
# place and does only what is missing, so a second run takes seconds.
source "$(dirname "$0")/lib.sh"
for step in "$REPO_ROOT"/eng/setup.d/*.sh; do
  # shellcheck source=/dev/null
  source "$step"
done
log "ready"
