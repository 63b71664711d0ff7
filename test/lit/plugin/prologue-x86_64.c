// -fplugin=hotpatch.so alone gives every function the x86_64 prologue at
// every optimisation level, with and without -g, PIC and PIE: 14 NOP bytes
// starting 16-byte aligned, then `66 90` at the entry.
// RUN: %hpcc -O0 -c %s -o %t.O0.o && llvm-objdump -d %t.O0.o | FileCheck %s
// RUN: %hpcc -O1 -c %s -o %t.O1.o && llvm-objdump -d %t.O1.o | FileCheck %s
// RUN: %hpcc -O2 -c %s -o %t.O2.o && llvm-objdump -d %t.O2.o | FileCheck %s
// RUN: %hpcc -O3 -c %s -o %t.O3.o && llvm-objdump -d %t.O3.o | FileCheck %s
// RUN: %hpcc -Os -c %s -o %t.Os.o && llvm-objdump -d %t.Os.o | FileCheck %s
// RUN: %hpcc -Oz -c %s -o %t.Oz.o && llvm-objdump -d %t.Oz.o | FileCheck %s
// RUN: %hpcc -O2 -g -c %s -o %t.g.o && llvm-objdump -d %t.g.o | FileCheck %s
// RUN: %hpcc -O2 -fPIC -c %s -o %t.pic.o && llvm-objdump -d %t.pic.o | FileCheck %s
// RUN: %hpcc -O2 -fPIE -c %s -o %t.pie.o && llvm-objdump -d %t.pie.o | FileCheck %s
// RUN: %hpcc -Os -c %s -o %t.Os.o && llvm-readelf -S %t.Os.o | FileCheck %s --check-prefix=SECTIONS
// RUN: %hpcc -Os -g -c %s -o %t.Osg.o && llvm-readelf -S %t.Osg.o | FileCheck %s --check-prefix=SECTIONS

// CHECK-LABEL: Disassembly of section .text.tick:
// CHECK:       0: 90 nop
// CHECK:       d: 90 nop
// CHECK-EMPTY:
// CHECK-NEXT:  <tick>:
// CHECK-NEXT:  e: 66 90 nop
// CHECK-LABEL: Disassembly of section .text.add:
// CHECK:       d: 90 nop
// CHECK-EMPTY:
// CHECK-NEXT:  <add>:
// CHECK-NEXT:  e: 66 90 nop

// One section per function and per variable, each function 16-byte aligned
// even at -Os; the table sits in a non-allocated section.
// SECTIONS-DAG: .text.tick PROGBITS {{.*}} AX 0 0 16
// SECTIONS-DAG: .bss.counter NOBITS
// SECTIONS-DAG: .text.add PROGBITS {{.*}} AX 0 0 16
// SECTIONS-DAG: .hotpatch.fp PROGBITS {{[0-9a-f]+ [0-9a-f]+ [0-9a-f]+}} 00 0 0 1

static int counter;
int tick(void) { return ++counter; }
int add(int a, int b) { return a + b + tick(); }
