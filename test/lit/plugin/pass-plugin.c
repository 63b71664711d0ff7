// -fpass-plugin=hotpatch-passes.so gives the same prologue and table (function
// sections are then up to the user, and the table's options say which).
// RUN: %clang -fpass-plugin=%passes -O2 -c %s -o %t.o
// RUN: llvm-objdump -d %t.o | FileCheck %s --check-prefix=ASM
// RUN: hp-inspect %t.o | FileCheck %s
// RUN: %hpcc -O2 -c %s -o %t.full.o
// RUN: hp-inspect --compare %t.o %t.full.o | FileCheck %s --check-prefix=CMP
// ASM: <tick>:
// ASM-NEXT: 66 90 nop
// CHECK: options: {{.*}};opt=O2;prologue=14+2;ipo=inline-only;flag:
// CHECK: tick  global patchable
// CMP: options differ
// CMP: same     function tick
static int counter;
int tick(void) { return ++counter; }
