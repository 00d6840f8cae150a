# owner-watch: the tiny static helper that kills QEMU when its .NET owner dies (even by SIGKILL),
# for Linux x64 and Linux arm64 hosts. macOS hosts need none (QEMU watches its own stdin there).
ensure_packages musl-tools gcc-aarch64-linux-gnu musl-dev:arm64
_ow_src="$REPO_ROOT/guest/owner-watch/owner-watch.c"
_ow_hash="$(sha256sum "$_ow_src" | cut -c1-16)"
for _ow_target in linux-x64:musl-gcc:strip linux-arm64:aarch64-linux-musl-gcc:aarch64-linux-gnu-strip; do
  _ow_out="$SUPERMACHINE_SETUP_CACHE/assets/${_ow_target%%:*}/owner-watch"
  _ow_tools="${_ow_target#*:}"
  if [ ! -x "$_ow_out" ] || [ "$(cat "$_ow_out.hash" 2>/dev/null)" != "$_ow_hash" ]; then
    log "building owner-watch (${_ow_target%%:*})"
    mkdir -p "$(dirname "$_ow_out")"
    "${_ow_tools%%:*}" -static -Os -Wall -Werror -o "$_ow_out.tmp" "$_ow_src"
    "${_ow_tools#*:}" "$_ow_out.tmp"
    mv "$_ow_out.tmp" "$_ow_out"
    echo "$_ow_hash" > "$_ow_out.hash"
  fi
done
