# OCI fixture images (tests/fixtures/images.sh): built once per machine into the set-up cache,
# rebuilt only when the scripts that make them change. apache2-utils gives htpasswd (bcrypt) for
# the Basic-auth registry of the tests.
ensure_packages umoci skopeo docker-registry apache2-utils python3 jq
ensure_apt_lists
if [ "$(id -u)" -eq 0 ]; then
  "$REPO_ROOT/tests/fixtures/images.sh" "$SUPERMACHINE_SETUP_CACHE/fixtures"
else
  log "fixture images need root (device nodes, ownership); run eng/setup.sh as root or under sudo"
fi
