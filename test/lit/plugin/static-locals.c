// C static locals keep the compiler's symbol names (fn.var, with a number
// when one function has two of the same name), exactly as in the symtab.
// RUN: %hpcc -O2 -c %s -o %t.o
// RUN: hp-inspect %t.o | FileCheck %s
// RUN: llvm-nm %t.o | FileCheck %s --check-prefix=NM
// CHECK: variables: 3
// CHECK-NEXT: count.n  local 4 bytes zero-init
// CHECK-NEXT: count.n.1  local 4 bytes
// CHECK-NEXT: other.n  local 8 bytes
// NM-DAG: b count.n
// NM-DAG: d count.n.1
// NM-DAG: d other.n
int count(int which) {
  if (which) {
    static int n;
    return ++n;
  }
  static int n = 5;
  return --n;
}
long other(void) {
  static long n = 9;
  return n++;
}
