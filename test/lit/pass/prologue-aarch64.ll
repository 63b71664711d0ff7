; AArch64: four NOPs before the entry, one at it (the attributes count
; instructions there, not bytes), and BTI keeps `bti c` first.
; RUN: %opt -passes=hotpatch-prologue -S %s | FileCheck %s
; RUN: %opt -passes=hotpatch-prologue %s -o - | llc -O2 -function-sections -filetype=obj -o %t.o
; RUN: llvm-objdump -d %t.o | FileCheck %s --check-prefix=ASM
target triple = "aarch64-unknown-linux-gnu"

; CHECK: define i32 @plain(i32 %x) #[[PLAIN:[0-9]+]] align 16
define i32 @plain(i32 %x) {
  %r = add i32 %x, 1
  ret i32 %r
}

; CHECK: define i32 @landing(i32 %x) #[[BTI:[0-9]+]] align 16
define i32 @landing(i32 %x) "branch-target-enforcement" {
  ret i32 %x
}

; CHECK-DAG: attributes #[[PLAIN]] = { "patchable-function-entry"="1" "patchable-function-prefix"="4" }

; ASM:      c: d503201f nop
; ASM-EMPTY:
; ASM-NEXT: <plain>:
; ASM-NEXT: 10: d503201f nop
; ASM:      <landing>:
; ASM-NEXT: d503245f bti c
; ASM-NEXT: d503201f nop
