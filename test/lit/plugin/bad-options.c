// A bad -fplugin-arg-hotpatch-* is a clang error with the option named, not a
// crash, and no object is written.
// RUN: rm -f %t.o
// RUN: not %hpcc -c %s -o %t.o -fplugin-arg-hotpatch-frobnicate=1 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// RUN: not %hpcc -c %s -o %t.o -fplugin-arg-hotpatch-exclude= 2>&1 | FileCheck %s --check-prefix=EMPTY
// RUN: not %hpcc -c %s -o %t.o -fplugin-arg-hotpatch-ipo=some 2>&1 | FileCheck %s --check-prefix=IPO
// RUN: test ! -e %t.o
// UNKNOWN: error: hotpatch: unknown option '-fplugin-arg-hotpatch-frobnicate=1' (known: exclude=NAME[,NAME...], ipo=inline-only|full)
// IPO: error: hotpatch: '-fplugin-arg-hotpatch-ipo=some' is not a known mode (known: inline-only, the default: callers depend on a patchable function's body only by inlining it; full: every interprocedural optimisation, so a fix may pull its callers into the patch)
// EMPTY: error: hotpatch: '-fplugin-arg-hotpatch-exclude' needs a value: -fplugin-arg-hotpatch-exclude=NAME[,NAME...]
int f(void) { return 1; }
