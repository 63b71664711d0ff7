; The fingerprint pass writes one record into the non-allocated section
; .hotpatch.fp through module asm; hp-inspect reads it back from the object.
; Private constants are not listed (they have no symbol) and llvm.* globals
; are skipped.
; RUN: %opt -passes=hotpatch-prologue,hotpatch-fingerprint -S %s | FileCheck %s --check-prefix=IR
; RUN: %opt -passes=hotpatch-prologue,hotpatch-fingerprint %s -o - | llc -filetype=obj -o %t.o
; RUN: llvm-readelf -S %t.o | FileCheck %s --check-prefix=SECTION
; RUN: hp-inspect %t.o | FileCheck %s
target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128"
target triple = "x86_64-unknown-linux-gnu"

@counter = internal global i32 0, align 4
@table = constant [3 x i16] [i16 1, i16 2, i16 3]
@tls = thread_local global i64 5
@.str = private unnamed_addr constant [3 x i8] c"hi\00"
@llvm.used = appending global [1 x ptr] [ptr @tick], section "llvm.metadata"

define i32 @tick() {
  %v = load i32, ptr @counter
  %n = add nsw i32 %v, 1
  store i32 %n, ptr @counter
  ret i32 %n
}

define internal ptr @greeting() {
  ret ptr @.str
}

define linkonce_odr i32 @inline_fn() comdat {
  ret i32 7
}
$inline_fn = comdat any

; IR: module asm "\09.pushsection\09.hotpatch.fp,\22\22,@progbits"
; IR: module asm "\09.ascii\09\22HPFP
; IR: module asm "\09.popsection"
; SECTION: .hotpatch.fp PROGBITS 0000000000000000 {{[0-9a-f]+}} {{[0-9a-f]+}} 00 0 0 1

; CHECK:      x86_64, 1 fingerprint record
; CHECK:      prologue:  14 bytes before each entry, 2-byte entry nop
; CHECK:      functions: 3
; CHECK-NEXT:   {{[0-9a-f]+}}  greeting  local patchable
; CHECK-NEXT:   {{[0-9a-f]+}}  inline_fn  weak comdat(inline_fn) patchable
; CHECK-NEXT:   {{[0-9a-f]+}}  tick  global patchable
; CHECK-NEXT: variables: 3
; CHECK-NEXT:   {{[0-9a-f]+}}  counter  local 4 bytes zero-init
; CHECK-NEXT:   {{[0-9a-f]+}}  table  global 6 bytes const
; CHECK-NEXT:   {{[0-9a-f]+}}  tls  global 8 bytes tls
