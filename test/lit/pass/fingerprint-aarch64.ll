; On AArch64 the section type is spelled %progbits ('@' starts a comment
; there) and the record says 16 bytes before each entry, a 4-byte entry NOP.
; RUN: %opt -passes=hotpatch-prologue,hotpatch-fingerprint -S %s | FileCheck %s --check-prefix=IR
; RUN: %opt -passes=hotpatch-prologue,hotpatch-fingerprint %s -o - | llc -filetype=obj -o %t.o
; RUN: hp-inspect %t.o | FileCheck %s
target datalayout = "e-m:e-i8:8:32-i16:16:32-i64:64-i128:128-n32:64-S128-Fn32"
target triple = "aarch64-unknown-linux-gnu"

define i32 @f(i32 %x) {
  ret i32 %x
}

; IR: module asm "\09.pushsection\09.hotpatch.fp,\22\22,%progbits"
; CHECK: aarch64, 1 fingerprint record
; CHECK: prologue:  16 bytes before each entry, 4-byte entry nop
; CHECK: {{[0-9a-f]+}}  f  global patchable
