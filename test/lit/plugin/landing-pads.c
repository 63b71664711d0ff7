// With CET (-fcf-protection=full) the entry starts with endbr64 and the
// patchable NOP follows it; with BTI (-mbranch-protection=standard) `bti c`
// comes first and the NOP follows, then paciasp.
// RUN: %hpcc -O2 -fcf-protection=full -c %s -o %t.x86.o
// RUN: llvm-objdump -d %t.x86.o | FileCheck %s --check-prefix=X86
// RUN: %hpcc --target=aarch64-linux-gnu -O2 -mbranch-protection=standard -c %s -o %t.arm.o
// RUN: llvm-objdump -d %t.arm.o | FileCheck %s --check-prefix=ARM
// RUN: hp-inspect %t.x86.o | FileCheck %s --check-prefix=OPTS

// X86:      d: 90 nop
// X86-EMPTY:
// X86-NEXT: <work>:
// X86-NEXT: e: f3 0f 1e fa endbr64
// X86-NEXT: 12: 66 90 nop

// ARM:      <work>:
// ARM-NEXT: 10: d503245f bti c
// ARM-NEXT: 14: d503201f nop
// ARM-NEXT: 18: d503233f paciasp

// OPTS: options: {{.*}}flag:cf-protection-branch=1

extern int other(int);
int work(int x) { return other(x) + 1; }
