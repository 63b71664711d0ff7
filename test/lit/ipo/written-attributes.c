// What the programmer wrote about a function stays usable: `const` and
// `pure` let LICM hoist a call out of a loop even under hotpatch. They are a
// promise of the source, which a fix must keep.
// RUN: %hpcc -O2 -S -emit-llvm %s -o - | FileCheck %s

int report(int);

__attribute__((noinline, const)) int square(int x) { return x * x; }

// CHECK-LABEL: define {{.*}}@serve(
// CHECK: call i32 @square(
// CHECK: [[LOOP:[0-9]+]]:
// CHECK-NOT: call i32 @square(
// CHECK: call i32 @report(
// CHECK: br label %[[LOOP]]
void serve(int x) {
  for (;;)
    report(square(x));
}
