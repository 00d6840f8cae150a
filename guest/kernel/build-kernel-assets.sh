#!/usr/bin/env bash
# Fetches the Debian cloud kernel for a Debian architecture (default: this host's) and extracts
# what the guest needs:
#   OUT/vmlinuz            the kernel image (bzImage on amd64, a plain Image QEMU loads on arm64)
#   OUT/modules/NAME.ko    the modules of modules.txt and their dependencies (9p built by
#                          build-9p-modules.sh, amd64 only)
#   OUT/modules.order      those modules in load order (dependencies first)
#   OUT/kernel.version     the package and version it came from
#   OUT/LICENSE.kernel.txt the package's copyright file (GPL-2.0)
# The package version is resolved with apt each time set-up runs; an OUT that already holds
# that version is left alone.
set -euo pipefail
out="${1:?usage: build-kernel-assets.sh OUT [DEBIAN_ARCH]}"
here="$(cd "$(dirname "$0")" && pwd)"
arch="${2:-$(dpkg --print-architecture)}"
# A foreign architecture's package is named NAME:ARCH (it needs dpkg --add-architecture ARCH).
qual=""
[ "$arch" = "$(dpkg --print-architecture)" ] || qual=":$arch"
meta="linux-image-cloud-$arch$qual"

package="$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')"
package="${package%%:*}"
if [ -z "$package" ]; then
  echo "build-kernel-assets: cannot resolve $meta with apt (run apt-get update?)" >&2
  exit 1
fi
version="$(apt-cache policy "$package$qual" | awk '/Candidate:/ {print $2}')"
wanted="$package $version $(sha256sum "$here/modules.txt" "$0" "$here/build-9p-modules.sh" | sha256sum | cut -c1-12)"
if [ -f "$out/kernel.version" ] && [ "$(cat "$out/kernel.version")" = "$wanted" ]; then
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get -o APT::Sandbox::User="$(id -un)" download -qq "$package$qual" >/dev/null)
dpkg-deb -x "$work"/*.deb "$work/x"
moddir="$(echo "$work"/x/lib/modules/*)"
# The 9p modules are built natively only: an arm64 guest has no host directory mounts yet.
if [ "$arch" = amd64 ]; then "$here/build-9p-modules.sh" "$package" "$version" "$moddir/extra"; fi

declare -A path_of=()
while IFS= read -r ko; do
  name="$(basename "$ko" .ko)"
  path_of["$name"]="$ko"
  path_of["${name//-/_}"]="$ko"
done < <(find "$moddir" -name '*.ko')

declare -A seen=()
order=()
visit() {
  local name="${1//-/_}"
  [ -n "${seen[$name]:-}" ] && return 0
  seen["$name"]=1
  local ko="${path_of[$name]:-}"
  if [ -z "$ko" ] && [ "$arch" != amd64 ] && [[ "$name" == 9p* ]]; then return 0; fi
  if [ -z "$ko" ]; then echo "build-kernel-assets: module $name not in $package" >&2; exit 1; fi
  local deps
  deps="$(modinfo -F depends "$ko" | tr ',' ' ')"
  for dep in $deps; do visit "$dep"; done
  order+=("$name")
}
while read -r line; do
  line="${line%%#*}"; line="$(echo "$line" | xargs)"
  [ -n "$line" ] && visit "$line"
done < "$here/modules.txt"

staging="$out.tmp"
rm -rf "$staging"
mkdir -p "$staging/modules"
if [ "$arch" = arm64 ]; then
  # arm64's vmlinuz is an uncompressed Image (27 MB); QEMU loads a gzipped one as well, and every
  # package and baked image carries a copy.
  gzip -9n -c "$work"/x/boot/vmlinuz-* > "$staging/vmlinuz"
else
  cp "$work"/x/boot/vmlinuz-* "$staging/vmlinuz"
fi
for name in "${order[@]}"; do cp "${path_of[$name]}" "$staging/modules/$name.ko"; done
printf '%s\n' "${order[@]}" > "$staging/modules.order"
cp "$work"/x/usr/share/doc/"$package"/copyright "$staging/LICENSE.kernel.txt"
echo "$wanted" > "$staging/kernel.version"
rm -rf "$out"
mv "$staging" "$out"
