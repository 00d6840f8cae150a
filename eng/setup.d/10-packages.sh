# Debian packages the project and its tests use. Later steps add their own with ensure_packages.
# qemu-system-arm runs arm64 guests (emulated on this x64 host).
# dpkg-dev (dpkg-scanpackages) makes the one-package apt repository of the network build test.
# e2fsprogs (mkfs.ext4) formats each VM's writable disk; qemu-utils (qemu-img) makes snapshot disks and restore overlays.
ensure_packages ca-certificates curl git xz-utils zstd libzstd1 \
  qemu-system-x86 qemu-system-arm musl-tools busybox-static squashfs-tools squashfs-tools-ng \
  docker-registry skopeo umoci redis-tools redis-server cpio attr \
  passt iproute2 dpkg-dev \
  e2fsprogs qemu-utils
