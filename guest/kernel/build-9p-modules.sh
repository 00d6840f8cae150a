#!/usr/bin/env bash
# Builds the 9p file system modules (9pnet, 9pnet_virtio, 9p) for the Debian cloud kernel, which
# leaves CONFIG_NET_9P unset, into OUT. Host directory mounts are virtio-9p (README, "Host directory
# mounts"): QEMU serves the directory itself, which works with restores that map the snapshot's RAM
# privately (virtiofs needs the RAM shared with its daemon). The sources come from Debian's
# linux-source package of the same version and the build runs against that kernel's headers package,
# so vermagic and symbol versions match; nothing is installed on the host.
#   build-9p-modules.sh KERNEL_PACKAGE VERSION OUT
set -euo pipefail
package="${1:?usage: build-9p-modules.sh KERNEL_PACKAGE VERSION OUT}"
version="${2:?}"
out="${3:?}"
release="${package#linux-image-}"            # 6.1.0-57-cloud-amd64
abi="${release%-cloud-*}"                    # 6.1.0-57
series="$(echo "$version" | cut -d. -f1-2)"  # 6.1
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get -o APT::Sandbox::User="$(id -un)" download -qq \
  "linux-headers-$release=$version" "linux-headers-$abi-common=$version" "linux-kbuild-$series=$version" "linux-source-$series=$version" >/dev/null)
for deb in "$work"/linux-headers-*.deb "$work"/linux-kbuild-*.deb; do dpkg-deb -x "$deb" "$work/root"; done
dpkg-deb --fsys-tarfile "$work"/linux-source-*.deb | tar -x -C "$work" "./usr/src/linux-source-$series.tar.xz"
src="linux-source-$series"
tar -xJf "$work/usr/src/$src.tar.xz" -C "$work" "$src/fs/9p" "$src/net/9p"
headers="$work/root/usr/src/linux-headers-$release"
# The headers' Makefile includes the common tree by its installed (absolute) path.
sed -i "s|/usr/src/|$work/root/usr/src/|" "$headers/Makefile"
make -s -C "$headers" M="$work/$src/net/9p" CONFIG_NET_9P=m CONFIG_NET_9P_VIRTIO=m modules 2>&1 | grep -v "Skipping BTF" >&2 || true
make -s -C "$headers" M="$work/$src/fs/9p" CONFIG_9P_FS=m KBUILD_EXTRA_SYMBOLS="$work/$src/net/9p/Module.symvers" modules 2>&1 | grep -v "Skipping BTF" >&2 || true
mkdir -p "$out"
for ko in "$work/$src/net/9p/9pnet.ko" "$work/$src/net/9p/9pnet_virtio.ko" "$work/$src/fs/9p/9p.ko"; do
  strip --strip-debug -o "$out/$(basename "$ko")" "$ko"
done
