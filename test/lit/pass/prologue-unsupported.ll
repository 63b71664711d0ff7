; A target hotpatch cannot patch is an error, not a silently unpatchable build.
; RUN: not %opt -passes=hotpatch-prologue -S %s -o /dev/null 2>&1 | FileCheck %s
; CHECK: error: hotpatch: target 'riscv64-unknown-linux-gnu' is not supported; hotpatch patches x86_64 and aarch64 ELF code
target triple = "riscv64-unknown-linux-gnu"
define void @f() {
  ret void
}
