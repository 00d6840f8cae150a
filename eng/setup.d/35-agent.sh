# The guest agent: guest/agent/*.c built static with musl-gcc into the set-up cache, where
# GuestAssets finds it and the Runtime package picks it up. Rebuilt only when its sources change.
ensure_packages musl-tools
agent_out="$SUPERMACHINE_SETUP_CACHE/assets/linux-x64/agent"
agent_hash="$(content_hash guest/agent)"
if [ -x "$agent_out/agent" ] && [ "$(cat "$agent_out/agent.hash" 2>/dev/null)" = "$agent_hash" ]; then
  :
else
  log "building the guest agent"
  "$REPO_ROOT/guest/agent/build.sh" "$agent_out"
  echo "$agent_hash" > "$agent_out/agent.hash"
fi
