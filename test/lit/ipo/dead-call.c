// A callee whose body writes nothing and always returns is, to LLVM, a call
// that can be deleted; once its fix starts writing a counter, the running
// caller would never call it. Under hotpatch the call stays.
// RUN: %hpcc -O2 -S -emit-llvm %s -o - | FileCheck %s
// RUN: %hpcc -O2 -S -emit-llvm %s -o - -fplugin-arg-hotpatch-ipo=full | FileCheck %s --check-prefix=FULL

int serve_one(void);

__attribute__((noinline)) void audit(int request) { (void)request; }

// CHECK-LABEL: define {{.*}}@loop(
// CHECK: call i32 @serve_one()
// CHECK: call void @audit(
// FULL-LABEL: define {{.*}}@loop(
// FULL: call i32 @serve_one()
// FULL-NOT: call void @audit(
// FULL: br label
void loop(void) {
  for (;;)
    audit(serve_one());
}
