# The guest kernels and their modules, from Debian's cloud kernel packages: amd64 and arm64, so
# either guest runs on any host (a foreign one under emulation).
ensure_packages kmod
ensure_apt_lists
ensure_foreign_architecture arm64
"$REPO_ROOT/guest/kernel/build-kernel-assets.sh" "$SUPERMACHINE_SETUP_CACHE/assets/linux-x64/kernel" amd64
"$REPO_ROOT/guest/kernel/build-kernel-assets.sh" "$SUPERMACHINE_SETUP_CACHE/assets/linux-arm64/kernel" arm64
