// The attribute belongs on functions: elsewhere clang warns and ignores it.
// RUN: %hpcc -c %s -o %t.o 2>&1 | FileCheck %s
// CHECK: warning: 'hotpatch_exclude' attribute only applies to functions
__attribute__((hotpatch_exclude)) int not_a_function;
