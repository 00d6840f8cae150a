# The guest agent: guest/agent/*.c built static with musl for each guest architecture (musl-gcc
# for x86_64, Debian's aarch64 cross compiler with musl-dev:arm64 for aarch64) into the set-up
# cache, where GuestAssets finds it and the Runtime package picks it up. Rebuilt only when its
# sources change.
ensure_foreign_architecture arm64
ensure_packages musl-tools gcc-aarch64-linux-gnu musl-dev:arm64
agent_hash="$(content_hash guest/agent)"
for _agent_target in linux-x64:musl-gcc linux-arm64:aarch64-linux-musl-gcc; do
  agent_out="$SUPERMACHINE_SETUP_CACHE/assets/${_agent_target%%:*}/agent"
  if [ -x "$agent_out/agent" ] && [ "$(cat "$agent_out/agent.hash" 2>/dev/null)" = "$agent_hash" ]; then
    continue
  fi
  log "building the guest agent (${_agent_target%%:*})"
  MUSL_GCC="${_agent_target#*:}" "$REPO_ROOT/guest/agent/build.sh" "$agent_out"
  echo "$agent_hash" > "$agent_out/agent.hash"
done
