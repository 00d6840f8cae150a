#!/usr/bin/env bash
# Fetches the Debian cloud kernel for the host architecture and extracts what the guest needs:
#   OUT/vmlinuz            the kernel image (bzImage)
#   OUT/modules/NAME.ko    the modules of modules.txt and their dependencies (9p built by build-9p-modules.sh)
#   OUT/modules.order      those modules in load order (dependencies first)
#   OUT/kernel.version     the package and version it came from
#   OUT/LICENSE.kernel.txt the package's copyright file (GPL-2.0)
# The package version is resolved with apt each time set-up runs; an OUT that already holds
# that version is left alone.
set -euo pipefail
out="${1:?usage: build-kernel-assets.sh OUT}"
here="$(cd "$(dirname "$0")" && pwd)"
arch="$(dpkg --print-architecture)"
meta="linux-image-cloud-$arch"

package="$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')"
if [ -z "$package" ]; then
  echo "build-kernel-assets: cannot resolve $meta with apt (run apt-get update?)" >&2
  exit 1
fi
version="$(apt-cache policy "$package" | awk '/Candidate:/ {print $2}')"
wanted="$package $version $(sha256sum "$here/modules.txt" "$0" "$here/build-9p-modules.sh" | sha256sum | cut -c1-12)"
if [ -f "$out/kernel.version" ] && [ "$(cat "$out/kernel.version")" = "$wanted" ]; then
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get -o APT::Sandbox::User="$(id -un)" download -qq "$package" >/dev/null)
dpkg-deb -x "$work"/*.deb "$work/x"
moddir="$(echo "$work"/x/lib/modules/*)"
"$here/build-9p-modules.sh" "$package" "$version" "$moddir/extra"

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
cp "$work"/x/boot/vmlinuz-* "$staging/vmlinuz"
for name in "${order[@]}"; do cp "${path_of[$name]}" "$staging/modules/$name.ko"; done
printf '%s\n' "${order[@]}" > "$staging/modules.order"
cp "$work"/x/usr/share/doc/"$package"/copyright "$staging/LICENSE.kernel.txt"
echo "$wanted" > "$staging/kernel.version"
rm -rf "$out"
mv "$staging" "$out"
