// A function opted out of patching has no prologue and is never replaced,
// so its callers may rely on its body as usual: it is not sealed.
// RUN: %hpcc -O2 -S -emit-llvm %s -o - | FileCheck %s
// RUN: %hpcc -O2 -S -emit-llvm %s -o - -fplugin-arg-hotpatch-exclude=price2 | FileCheck %s --check-prefix=NAMED

int report(int);

__attribute__((noinline, hotpatch_exclude)) int price(int x) { return x * 3 + 1; }
__attribute__((noinline)) int price2(int x) { return x * 5 + 1; }

// CHECK-LABEL: define {{.*}}@serve(
// CHECK: call i32 @price(
// CHECK: [[LOOP:[0-9]+]]:
// CHECK-NOT: call i32 @price(
// CHECK: call i32 @price2(
// CHECK: br label %[[LOOP]]
// NAMED-LABEL: define {{.*}}@serve(
// NAMED-DAG: call i32 @price(
// NAMED-DAG: call i32 @price2(
// NAMED: [[LOOP:[0-9]+]]:
// NAMED-NOT: call i32 @price
// NAMED: br label %[[LOOP]]
void serve(int x) {
  for (;;)
    report(price(x) + price2(x));
}
