// IPSCCP folds a callee's constant return value into its callers, which then
// stop calling it: a fix of the constant would never be seen by a running
// caller. Under hotpatch the calls stay; ipo=full shows the folding is real.
// RUN: %hpcc -O2 -S -emit-llvm %s -o - | FileCheck %s
// RUN: %hpcc -O2 -S -emit-llvm %s -o - -fplugin-arg-hotpatch-ipo=full | FileCheck %s --check-prefix=FULL

int printf(const char *, ...);

// Nor does the definition carry what its body proves about the result.
// CHECK: define dso_local ptr @greeting()
// FULL: define dso_local noundef nonnull ptr @greeting()
__attribute__((noinline)) const char *greeting(void) { return "hello"; }
__attribute__((noinline)) int limit(void) { return 42; }
// A static callee too: its only caller is in this file.
__attribute__((noinline)) static int version(void) { return 7; }

// CHECK-LABEL: define {{.*}}@show(
// CHECK-DAG: call ptr @greeting()
// CHECK-DAG: call i32 @limit()
// CHECK-DAG: call i32 @version()
// CHECK: ret void
// FULL-LABEL: define {{.*}}@show(
// FULL-NOT: call {{.*}}@greeting()
// FULL-NOT: call {{.*}}@limit()
// FULL-NOT: call {{.*}}@version()
// FULL: ret void
void show(void) { printf("%s %d %d\n", greeting(), limit(), version()); }
