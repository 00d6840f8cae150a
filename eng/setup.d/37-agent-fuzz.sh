# The toolchain for fuzzing the guest agent's frame parser (guest/agent/fuzz/run.sh): clang with
# libFuzzer and the sanitizer runtimes, from Debian's packages.
ensure_packages clang libclang-rt-14-dev llvm
