// C++ spells the opt-out [[hotpatch::exclude]]; it also works on members.
// RUN: %hpcxx -O2 -c %s -o %t.o
// RUN: hp-inspect %t.o | FileCheck %s
// CHECK: _Z4freei  global not-patchable: opted out by the hotpatch_exclude attribute
// CHECK: _ZN1S6memberEi  global not-patchable: opted out by the hotpatch_exclude attribute
// CHECK: _ZN1S7patchedEi  global patchable
[[hotpatch::exclude]] int free(int x) { return x + 1; }
struct S {
  [[hotpatch::exclude]] int member(int x);
  int patched(int x);
};
int S::member(int x) { return x * 2; }
int S::patched(int x) { return x * 3; }
