// C++: symbol names in the table are the mangled ELF names; inline functions
// and template instantiations are weak COMDAT members, still patchable.
// RUN: %hpcxx -O2 -fPIC -c %s -o %t.o
// RUN: hp-inspect %t.o | FileCheck %s
// RUN: llvm-nm %t.o | FileCheck %s --check-prefix=NM
// CHECK: _Z3useii  global patchable
// CHECK: _Z5twiceIiET_S0_  weak comdat(_Z5twiceIiET_S0_) patchable
// CHECK: _ZN7Counter4bumpEv  weak comdat(_ZN7Counter4bumpEv) patchable
// CHECK: variables:
// CHECK: _ZZ3useiiE5calls  local 4 bytes zero-init
// NM-DAG: _Z5twiceIiET_S0_
// NM-DAG: _ZZ3useiiE5calls
template <typename T> __attribute__((noinline)) T twice(T x) { return x + x; }
struct Counter {
  int n = 0;
  __attribute__((noinline)) int bump() { return ++n; }
};
int use(int a, int b) {
  static int calls;
  Counter c;
  c.bump();
  return twice(a) + b + ++calls + c.n;
}
