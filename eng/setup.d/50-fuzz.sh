# Fuzzing tools for eng/fuzz.sh: AFL++ from Debian, and the sharpfuzz instrumenter as a local
# dotnet tool (eng/fuzz/.config/dotnet-tools.json). Cheap when both are in place.
ensure_packages afl++
if [ ! -f "$SUPERMACHINE_SETUP_CACHE/.fuzz-tools-$(sha256sum "$REPO_ROOT/eng/fuzz/.config/dotnet-tools.json" | cut -c1-16)" ]; then
  log "restoring the sharpfuzz dotnet tool"
  (cd "$REPO_ROOT/eng/fuzz" && dotnet tool restore >/dev/null)
  mkdir -p "$SUPERMACHINE_SETUP_CACHE"
  touch "$SUPERMACHINE_SETUP_CACHE/.fuzz-tools-$(sha256sum "$REPO_ROOT/eng/fuzz/.config/dotnet-tools.json" | cut -c1-16)"
fi
