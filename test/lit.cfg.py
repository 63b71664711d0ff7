# lit configuration for hotpatch: test/lit (passes, plugin, tools) and
# test/e2e (real processes). Substitutions:
#   %hpcc / %hpcxx     clang-19 / clang++-19 with -fplugin=hotpatch.so
#   %clang / %clangxx  the same compilers without the plugin
#   %passes            path of hotpatch-passes.so
#   %opt               opt with hotpatch-passes.so loaded
#   %plugin            path of hotpatch.so
#   %areadir           the reserved patch area's files, one directory per machine
#   %cmake, %python, %srcroot, %objroot
# HP_E2E_KEEP, HP_E2E_CYCLES, HP_E2E_SEED and HP_E2E_MUTANTS reach the e2e
# scenarios (e2e/Inputs/harness.py, the scenarios that read them).
import os
import shutil
import sys
import lit.formats

config.name = "hotpatch"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".ll", ".c", ".cpp", ".test"]
config.excludes = ["Inputs", "unit", "fuzz", "arm64", "CMakeLists.txt", "lit.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.hotpatch_obj_root, "test")

plugin = os.path.join(config.hotpatch_lib_dir, "hotpatch.so")
passes = os.path.join(config.hotpatch_lib_dir, "hotpatch-passes.so")
opt = os.path.join(config.llvm_bin_dir, "opt")

config.environment["PATH"] = os.pathsep.join(
    [config.hotpatch_bin_dir, config.llvm_bin_dir, config.environment.get("PATH", "")])
for var in ["HOME", "TMPDIR", "LANG", "HP_E2E_KEEP", "HP_E2E_CYCLES", "HP_E2E_SEED",
            "HP_E2E_MUTANTS"]:
    if var in os.environ:
        config.environment[var] = os.environ[var]

config.substitutions += [
    ("%hpcxx", f"{config.clangxx} -fplugin={plugin}"),
    ("%hpcc", f"{config.clang} -fplugin={plugin}"),
    ("%clangxx", config.clangxx),
    ("%clang", config.clang),
    ("%passes", passes),
    ("%plugin", plugin),
    ("%opt", f"{opt} -load-pass-plugin={passes}"),
    ("%cmake", config.cmake),
    ("%python", sys.executable),
    ("%srcroot", config.hotpatch_src_root),
    ("%objroot", config.hotpatch_obj_root),
    ("%areadir", os.path.join(config.hotpatch_obj_root, "lib", "hotpatch-area")),
]

# Cross-compiling to aarch64 needs no sysroot for header-free sources; linking
# or including libc headers does (package libc6-dev-arm64-cross).
# GNU ld for aarch64 (package binutils-aarch64-linux-gnu).
if shutil.which("aarch64-linux-gnu-ld"):
    config.available_features.add("aarch64-ld")
if os.path.exists("/usr/aarch64-linux-gnu/include/stdio.h"):
    config.available_features.add("aarch64-sysroot")
