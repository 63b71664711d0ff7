// Cross-compiled to AArch64: four NOPs before each entry, one at it, at every
// optimisation level, PIC or not; the table says so.
// RUN: %hpcc --target=aarch64-linux-gnu -O0 -c %s -o %t.O0.o && llvm-objdump -d %t.O0.o | FileCheck %s
// RUN: %hpcc --target=aarch64-linux-gnu -O2 -c %s -o %t.O2.o && llvm-objdump -d %t.O2.o | FileCheck %s
// RUN: %hpcc --target=aarch64-linux-gnu -Os -c %s -o %t.Os.o && llvm-objdump -d %t.Os.o | FileCheck %s
// RUN: %hpcc --target=aarch64-linux-gnu -O3 -g -fPIC -c %s -o %t.pic.o && llvm-objdump -d %t.pic.o | FileCheck %s
// RUN: %hpcc --target=aarch64-linux-gnu -O1 -fPIE -c %s -o %t.pie.o && llvm-objdump -d %t.pie.o | FileCheck %s
// RUN: hp-inspect %t.O2.o | FileCheck %s --check-prefix=TABLE

// CHECK-LABEL: Disassembly of section .text.tick:
// CHECK:       0: d503201f nop
// CHECK-NEXT:  4: d503201f nop
// CHECK-NEXT:  8: d503201f nop
// CHECK-NEXT:  c: d503201f nop
// CHECK-EMPTY:
// CHECK-NEXT:  <tick>:
// CHECK-NEXT:  10: d503201f nop
// CHECK-LABEL: Disassembly of section .text.add:
// CHECK:       <add>:
// CHECK-NEXT:  10: d503201f nop

// TABLE: aarch64, 1 fingerprint record
// TABLE: prologue:  16 bytes before each entry, 4-byte entry nop
// TABLE: add  global patchable
// TABLE: tick  global patchable

static int counter;
int tick(void) { return ++counter; }
int add(int a, int b) { return a + b + tick(); }
