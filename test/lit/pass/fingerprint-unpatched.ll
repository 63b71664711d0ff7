; Run alone, the fingerprint pass records functions without a prologue as not
; patchable, with the reason.
; RUN: %opt -passes=hotpatch-fingerprint %s -o - | llc -filetype=obj -o %t.o
; RUN: hp-inspect %t.o | FileCheck %s
target triple = "x86_64-unknown-linux-gnu"

define void @plain() {
  ret void
}
define void @excluded() "hotpatch-exclude" {
  ret void
}

; CHECK: excluded  global not-patchable: opted out by the hotpatch_exclude attribute
; CHECK: plain  global not-patchable: built without the patchable prologue
