// A function opts out with the attribute (GNU or C23 spelling) or the plugin
// option; it gets no prologue and the table records why.
// RUN: %hpcc -O2 -c %s -o %t.o -fplugin-arg-hotpatch-exclude=by_option,also_by_option
// RUN: llvm-objdump -d %t.o | FileCheck %s --check-prefix=ASM
// RUN: hp-inspect %t.o | FileCheck %s
// RUN: %hpcc -std=c23 -O2 -DC23 -c %s -o %t.c23.o
// RUN: hp-inspect %t.c23.o | FileCheck %s --check-prefix=C23

// ASM-LABEL: <by_attribute>:
// ASM-NEXT: 0: 8d 47 01 leal
// ASM-LABEL: <by_option>:
// ASM-NEXT: 0: 8d 47 02 leal
// ASM-LABEL: <patched>:
// ASM-NEXT: e: 66 90 nop

// CHECK: also_by_option  global not-patchable: opted out by -fplugin-arg-hotpatch-exclude
// CHECK: by_attribute  global not-patchable: opted out by the hotpatch_exclude attribute
// CHECK: by_option  global not-patchable: opted out by -fplugin-arg-hotpatch-exclude
// CHECK: patched  global patchable
// C23: by_attribute  global not-patchable: opted out by the hotpatch_exclude attribute
// C23: by_c23_attribute  global not-patchable: opted out by the hotpatch_exclude attribute

__attribute__((hotpatch_exclude)) int by_attribute(int x) { return x + 1; }
int by_option(int x) { return x + 2; }
int also_by_option(int x) { return x + 4; }
int patched(int x) { return x + 3; }
#ifdef C23
[[hotpatch::exclude]] int by_c23_attribute(int x) { return x + 5; }
#endif
