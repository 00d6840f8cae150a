# Shared helpers for the eng/ scripts. Sourced, never run.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# Where set-up keeps what it builds once per machine (guest assets, fixture images).
SUPERMACHINE_SETUP_CACHE="${SUPERMACHINE_SETUP_CACHE:-$HOME/.cache/supermachine-setup}"
export SUPERMACHINE_SETUP_CACHE

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

# apt-get update once per boot when the package lists are missing: apt-cache and apt-get download
# (the kernel and fixture steps) find nothing before it, even when every package is installed.
ensure_apt_lists() {
  if [ -f /tmp/.supermachine-apt-updated ] || ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then return 0; fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq && touch /tmp/.supermachine-apt-updated
}

# Lets apt see another architecture's packages (the arm64 guest kernel and the aarch64 musl), once.
ensure_foreign_architecture() {
  local arch="$1"
  if [ "$arch" = "$(dpkg --print-architecture)" ] || dpkg --print-foreign-architectures | grep -qx "$arch"; then return 0; fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  log "adding the Debian architecture $arch"
  $sudo dpkg --add-architecture "$arch"
  $sudo apt-get update -qq && touch /tmp/.supermachine-apt-updated
}

# Installs the Debian packages given that are not installed yet; runs apt-get update at most once.
ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then return 0; fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  log "installing Debian packages: ${missing[*]}"
  if [ ! -f /tmp/.supermachine-apt-updated ]; then
    $sudo apt-get update -qq && touch /tmp/.supermachine-apt-updated
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Prints a hash of the tracked and untracked (not ignored) files under the paths given.
content_hash() {
  (cd "$REPO_ROOT" && git ls-files -co --exclude-standard -- "$@" | LC_ALL=C sort | while read -r f; do
     [ -f "$f" ] && { printf '%s\0' "$f"; sha256sum < "$f"; }
   done) | sha256sum | cut -c1-16
}
