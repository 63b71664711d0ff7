// A static function's signature and calling convention are the optimizer's
// to change when it sees every caller: an unused argument is dropped
// (DeadArgElim), a pointer argument may become the value it points at
// (ArgumentPromotion), the convention becomes fastcc (GlobalOpt). A fix that
// starts using the argument then needs a new signature, and every caller
// changes with it. Under hotpatch the signature stays as written.
// RUN: %hpcc -O2 -S -emit-llvm %s -o - | FileCheck %s
// RUN: %hpcc -O2 -S -emit-llvm %s -o - -fplugin-arg-hotpatch-ipo=full | FileCheck %s --check-prefix=FULL

struct config { int scale, offset; };
int report(int);

// CHECK-DAG: define internal i32 @scale(i32 noundef %0, i32 noundef %1)
// FULL-DAG: define internal fastcc {{.*}}@scale(i32 noundef %0)
__attribute__((noinline)) static int scale(int x, int unused) { return x * 2; }

// CHECK-DAG: define internal i32 @apply(ptr noundef %0, i32 noundef %1)
// FULL-DAG: define internal fastcc {{.*}}@apply(
__attribute__((noinline)) static int apply(const struct config *c, int x) {
  return x * c->scale;
}

void serve(int x, int y) {
  struct config c = {x, y};
  report(scale(x, y) + apply(&c, y));
}
