# The guest kernel and its modules, from the Debian cloud kernel package; the 9p modules (host
# directory mounts) are built for it from Debian's linux-source (guest/kernel/build-9p-modules.sh).
ensure_packages kmod make gcc-12 xz-utils binutils
ensure_apt_lists
"$REPO_ROOT/guest/kernel/build-kernel-assets.sh" "$SUPERMACHINE_SETUP_CACHE/assets/linux-x64/kernel"
