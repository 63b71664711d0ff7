// A small pure function called in an endless loop: LLVM infers memory(none)
// and willreturn from its body, and LICM then calls it once, before the loop,
// so a patch of it would never run. Under hotpatch no attribute is inferred
// from a patchable body and the call stays in the loop; ipo=full shows the
// hoist is real.
// RUN: %hpcc -O2 -S -emit-llvm %s -o - | FileCheck %s
// RUN: %hpcc -O2 -S -emit-llvm %s -o - -fplugin-arg-hotpatch-ipo=full | FileCheck %s --check-prefix=FULL
// RUN: %clang -fpass-plugin=%passes -O2 -S -emit-llvm %s -o - | FileCheck %s
// clang parses -mllvm before it loads pass plugins: -load registers the option.
// RUN: %clang -Xclang -load -Xclang %passes -fpass-plugin=%passes -mllvm -hotpatch-ipo=full -O2 -S -emit-llvm %s -o - | FileCheck %s --check-prefix=FULL
// RUN: %clang -O2 -Xclang -disable-llvm-passes -S -emit-llvm %s -o %t.ll
// RUN: %opt -passes='default<O2>' -S %t.ll | FileCheck %s
// RUN: %opt -hotpatch-ipo=full -passes='default<O2>' -S %t.ll | FileCheck %s --check-prefix=FULL

int report(int);

// No body-derived attribute on the definition itself either (the attribute
// group is checked at the end of the output).
// CHECK: define dso_local i32 @price(i32 noundef %0) local_unnamed_addr #[[PRICE:[0-9]+]]
// FULL: define {{.*}}@price({{.*}} #[[PRICE:[0-9]+]]
__attribute__((noinline)) int price(int x) { return x * 3 + 1; }

// CHECK-LABEL: define {{.*}}@serve(
// CHECK: [[LOOP:[0-9]+]]:
// CHECK: call i32 @price(i32 noundef %0)
// CHECK: call i32 @report(
// CHECK: br label %[[LOOP]]
// FULL-LABEL: define {{.*}}@serve(
// FULL: call i32 @price(
// FULL: [[LOOP:[0-9]+]]:
// FULL-NOT: call i32 @price(
// FULL: call i32 @report(
void serve(int x) {
  for (;;)
    report(price(x));
}

// CHECK: attributes #[[PRICE]] = { noinline nounwind uwtable "
// FULL: attributes #[[PRICE]] = { {{.*}}willreturn memory(none)
