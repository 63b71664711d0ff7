; Every defined function gets the x86_64 prologue: 14 bytes of padding (one
; NOP each), a 2-byte entry NOP, 16-byte alignment; declarations do not, and
; neither do naked functions or opted-out ones.
; RUN: %opt -passes=hotpatch-prologue -S %s | FileCheck %s
; RUN: %opt -passes='hotpatch-prologue<exclude=skipped>' -S %s | FileCheck %s --check-prefix=EXCL
; RUN: %opt -passes=hotpatch-prologue %s -o - | llc -O2 -function-sections -filetype=obj -o %t.o
; RUN: llvm-objdump -d %t.o | FileCheck %s --check-prefix=ASM
; RUN: llvm-readelf -S %t.o | FileCheck %s --check-prefix=ALIGN
target triple = "x86_64-unknown-linux-gnu"

; CHECK: define i32 @plain(i32 %x) #[[PLAIN:[0-9]+]] align 16
define i32 @plain(i32 %x) {
  %r = add i32 %x, 1
  ret i32 %r
}

; An explicit larger alignment is kept.
; CHECK: define void @aligned() #[[PLAIN]] align 32
define void @aligned() align 32 {
  ret void
}

; CHECK: define void @skipped() #[[PLAIN]] align 16
; EXCL: define void @skipped() {
define void @skipped() {
  ret void
}

; CHECK: define void @bare() #[[NAKED:[0-9]+]] {
define void @bare() naked {
  unreachable
}

; CHECK: define void @annotated() #[[EXCLUDED:[0-9]+]] {
define void @annotated() "hotpatch-exclude" {
  ret void
}

; CHECK: declare void @external()
declare void @external()

; CHECK-DAG: attributes #[[PLAIN]] = { "patchable-function-entry"="2" "patchable-function-prefix"="14" }
; CHECK-DAG: attributes #[[NAKED]] = { naked }
; CHECK-DAG: attributes #[[EXCLUDED]] = { "hotpatch-exclude" }

; ASM-LABEL: <plain>:
; ASM-NEXT:  e: 66 90 nop
; ALIGN: .text.plain PROGBITS {{[0-9a-f]+}} {{[0-9a-f]+}} {{[0-9a-f]+}} 00 AX 0 0 16
