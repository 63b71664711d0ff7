; The hotpatch_exclude annotation becomes a function attribute and leaves
; @llvm.global.annotations, so it no longer keeps the function alive; other
; annotations stay.
; RUN: %opt -passes=hotpatch-annotations -S %s | FileCheck %s
target triple = "x86_64-unknown-linux-gnu"

@.str = private unnamed_addr constant [17 x i8] c"hotpatch_exclude\00", section "llvm.metadata"
@.other = private unnamed_addr constant [6 x i8] c"other\00", section "llvm.metadata"
@.file = private unnamed_addr constant [4 x i8] c"a.c\00", section "llvm.metadata"
@llvm.global.annotations = appending global [2 x { ptr, ptr, ptr, i32, ptr }] [
  { ptr, ptr, ptr, i32, ptr } { ptr @excluded, ptr @.str, ptr @.file, i32 1, ptr null },
  { ptr, ptr, ptr, i32, ptr } { ptr @kept, ptr @.other, ptr @.file, i32 2, ptr null }
], section "llvm.metadata"

; CHECK: @llvm.global.annotations = appending global [1 x { ptr, ptr, ptr, i32, ptr }] [{ ptr, ptr, ptr, i32, ptr } { ptr @kept, ptr @.other,
; CHECK: define internal void @excluded() #[[EXCL:[0-9]+]]
define internal void @excluded() {
  ret void
}
; CHECK: define void @kept() {
define void @kept() {
  ret void
}
; CHECK: attributes #[[EXCL]] = { "hotpatch-exclude" }
