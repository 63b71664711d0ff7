# Builds the live scenarios' targets for arm64 on the host, with the
# plugin (build/lib/hotpatch.so), and their patches with hp-diff (both
# native tools: hp-diff writes arm64 patches): test/arm64/scenarios/targets.py
# holds the table. The sources are the x86_64 e2e suite's own
# (test/e2e/Inputs/shared.py and the live-*.test files). Each scenario lands
# in the guest's /data/NAME: app (the old build) and its patches.
set -euo pipefail
python3 "$ROOT/test/arm64/scenarios/targets.py" "$ROOT" "$BUILD" "$WORK" "$SYSROOT" "$ROOTFS"
