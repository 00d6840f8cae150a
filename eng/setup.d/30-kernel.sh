# The guest kernels and their modules, from Debian's cloud kernel packages: amd64 and arm64, so
# either guest runs on any host (a foreign one under emulation). The 9p modules (host directory
# mounts) are built for the amd64 kernel from Debian's linux-source (guest/kernel/build-9p-modules.sh).
ensure_packages kmod make gcc-12 xz-utils binutils
ensure_apt_lists
ensure_foreign_architecture arm64
"$REPO_ROOT/guest/kernel/build-kernel-assets.sh" "$SUPERMACHINE_SETUP_CACHE/assets/linux-x64/kernel" amd64
"$REPO_ROOT/guest/kernel/build-kernel-assets.sh" "$SUPERMACHINE_SETUP_CACHE/assets/linux-arm64/kernel" arm64
