# owner-watch: the tiny static helper that kills QEMU when its .NET owner dies (even by SIGKILL).
ensure_packages musl-tools
_ow_src="$REPO_ROOT/guest/owner-watch/owner-watch.c"
_ow_out="$SUPERMACHINE_SETUP_CACHE/assets/linux-x64/owner-watch"
_ow_hash="$(sha256sum "$_ow_src" | cut -c1-16)"
if [ ! -x "$_ow_out" ] || [ "$(cat "$_ow_out.hash" 2>/dev/null)" != "$_ow_hash" ]; then
  log "building owner-watch"
  mkdir -p "$(dirname "$_ow_out")"
  musl-gcc -static -Os -Wall -Werror -o "$_ow_out.tmp" "$_ow_src"
  strip "$_ow_out.tmp"
  mv "$_ow_out.tmp" "$_ow_out"
  echo "$_ow_hash" > "$_ow_out.hash"
fi
