# Builds the live scenarios' targets for arm64 on the host, with the
# plugin (build/lib/hotpatch.so), and their patches with hp-diff (both
# native tools: hp-diff writes arm64 patches). The sources are the x86_64
# e2e suite's own (test/e2e/Inputs/shared.py). Each scenario lands in the
# guest's /data/NAME: app (the old build, static) and fix.hp.
set -euo pipefail
plugin=$BUILD/lib/hotpatch.so
hpdiff=$BUILD/bin/hp-diff
[ -e "$plugin" ] && [ -e "$hpdiff" ] ||
  { echo "arm64-testbed: build hotpatch first (no $plugin or $hpdiff)" >&2; exit 1; }
cc=(clang-19 --target=aarch64-linux-gnu "--sysroot=$SYSROOT")
out=$WORK/scenarios
mkdir -p "$out"
# The sources, from shared.py: old and new, per scenario.
python3 - "$ROOT/test/e2e/Inputs" "$out" <<'PY'
import os, sys
sys.path.insert(0, sys.argv[1])
import ast
from shared import many_steps, program, tick_program


def constants(test):
    """The string constants (BODY = r'''...''') of an x86 e2e .test file,
    without running its scenario."""
    path = os.path.join(sys.argv[1], "..", test + ".test")
    tree = ast.parse(open(path).read())
    return {node.targets[0].id: node.value.value for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)}


blocked = constants("live-blocked-threads-see-no-eintr")
scenarios = {
    "tick": (tick_program(1), tick_program(10)),
    "many": (program(*many_steps(1)), program(*many_steps(1000))),
    "blocked": tuple(program(blocked["BODY"].replace("{v}", v), blocked["REPLY"])
                     for v in ("1", "2")),
}
for name, (old, new) in scenarios.items():
    for version, text in (("old", old), ("new", new)):
        d = os.path.join(sys.argv[2], name, version)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "app.c")
        # Written only when it changed: the builds below go by mtimes.
        if not os.path.exists(path) or open(path).read() != text:
            with open(path, "w") as f:
                f.write(text)
PY
for dir in "$out"/*/; do
  name=$(basename "$dir")
  for version in old new; do
    v=$dir$version
    if [ ! -e "$v/app" ] || [ "$v/app.c" -nt "$v/app" ] || [ "$plugin" -nt "$v/app" ]; then
      "${cc[@]}" -fplugin="$plugin" -O2 -g -c "$v/app.c" -o "$v/app.o"
      "${cc[@]}" -fuse-ld=lld -static "$v/app.o" -o "$v/app" -lpthread
    fi
  done
  if [ ! -e "$dir/fix.hp" ] || [ "$dir/old/app" -nt "$dir/fix.hp" ] ||
     [ "$dir/new/app" -nt "$dir/fix.hp" ] || [ "$hpdiff" -nt "$dir/fix.hp" ]; then
    "$hpdiff" "$dir/old/app.o" "$dir/new/app.o" --target "$dir/old/app" -o "$dir/fix.hp" >/dev/null
  fi
  mkdir -p "$ROOTFS/data/$name"
  for f in old/app fix.hp; do
    [ "$ROOTFS/data/$name/$(basename "$f")" -nt "$dir/$f" ] ||
      cp "$dir/$f" "$ROOTFS/data/$name/$(basename "$f")"
  done
done
