; Value names, debug records and the name of a private constant do not move
; a fingerprint; the constant's contents and an instruction flag do.
; RUN: rm -rf %t && mkdir %t
; RUN: sed -e 's/@RENAME/@.str/' %s > %t/a.ll
; RUN: sed -e 's/@RENAME/@.str.42/' -e 's/[%]sum/%%total/g' -e 's/!dbg !9/!dbg !10/' %s > %t/b.ll
; RUN: sed -e 's/@RENAME/@.str/' -e 's/c"abc\\00"/c"abd\\00"/' %s > %t/c.ll
; RUN: sed -e 's/@RENAME/@.str/' -e 's/add nsw/add/' %s > %t/d.ll
; RUN: %opt -passes=hotpatch-fingerprint %t/a.ll -o - | llc -filetype=obj -o %t/a.o
; RUN: %opt -passes=hotpatch-fingerprint %t/b.ll -o - | llc -filetype=obj -o %t/b.o
; RUN: %opt -passes=hotpatch-fingerprint %t/c.ll -o - | llc -filetype=obj -o %t/c.o
; RUN: %opt -passes=hotpatch-fingerprint %t/d.ll -o - | llc -filetype=obj -o %t/d.o
; RUN: hp-inspect --compare %t/a.o %t/b.o | FileCheck %s --check-prefix=SAME
; RUN: hp-inspect --compare %t/a.o %t/c.o | FileCheck %s --check-prefix=TEXT
; RUN: hp-inspect --compare %t/a.o %t/d.o | FileCheck %s --check-prefix=FLAG
; SAME: same     function f
; TEXT: changed  function f
; FLAG: changed  function f
target triple = "x86_64-unknown-linux-gnu"

@RENAME = private unnamed_addr constant [4 x i8] c"abc\00"

define ptr @f(i32 %a, i32 %b) !dbg !5 {
  %sum = add nsw i32 %a, %b, !dbg !9
  call void @use(i32 %sum)
  ret ptr @RENAME
}
declare void @use(i32)

!llvm.dbg.cu = !{!0}
!llvm.module.flags = !{!3, !4}
!0 = distinct !DICompileUnit(language: DW_LANG_C11, file: !1, producer: "clang", isOptimized: true, runtimeVersion: 0, emissionKind: FullDebug)
!1 = !DIFile(filename: "a.c", directory: "/tmp")
!3 = !{i32 2, !"Debug Info Version", i32 3}
!4 = !{i32 7, !"Dwarf Version", i32 5}
!5 = distinct !DISubprogram(name: "f", scope: !1, file: !1, line: 1, type: !6, scopeLine: 1, spFlags: DISPFlagDefinition, unit: !0)
!6 = !DISubroutineType(types: !7)
!7 = !{}
!9 = !DILocation(line: 2, column: 3, scope: !5)
!10 = !DILocation(line: 12, column: 7, scope: !5)
