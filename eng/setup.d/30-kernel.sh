# The guest kernel and its modules, from the Debian cloud kernel package.
ensure_packages kmod
ensure_apt_lists
"$REPO_ROOT/guest/kernel/build-kernel-assets.sh" "$SUPERMACHINE_SETUP_CACHE/assets/linux-x64/kernel"
