# Realistic fixture images (tests/fixtures/debian-images.sh): debian, postgres, mariadb, rabbitmq,
# nginx and jvm, built from Debian packages with mmdebstrap once per machine into the set-up cache
# and rebuilt only when the script or its entrypoints change. javac compiles the jvm image's program.
ensure_packages mmdebstrap umoci rsync openjdk-17-jdk-headless
ensure_apt_lists
if [ "$(id -u)" -eq 0 ]; then
  if [ ! -f "$SUPERMACHINE_SETUP_CACHE/debian-fixtures/.complete" ]; then log "building the Debian fixture images (a few minutes)"; fi
  "$REPO_ROOT/tests/fixtures/debian-images.sh" "$SUPERMACHINE_SETUP_CACHE/debian-fixtures"
else
  log "Debian fixture images need root (mmdebstrap --mode=root); run eng/setup.sh as root or under sudo"
fi
