// A callee that never returns is inferred `noreturn` and its callers end in
// `unreachable` after the call: a fix that makes it return (or a caller that
// must go on) changes every caller. Under hotpatch only a written
// __attribute__((noreturn)) counts.
// RUN: %hpcc -O2 -S -emit-llvm %s -o - | FileCheck %s
// RUN: %hpcc -O2 -S -emit-llvm %s -o - -fplugin-arg-hotpatch-ipo=full | FileCheck %s --check-prefix=FULL

void exit(int) __attribute__((noreturn));
int puts(const char *);

__attribute__((noinline)) void fatal(const char *why) {
  puts(why);
  exit(3);
}
__attribute__((noinline, noreturn)) void die(const char *why) {
  puts(why);
  exit(4);
}

// CHECK-LABEL: define {{.*}}@check(
// CHECK: call void @fatal(
// CHECK-NEXT: br label
// FULL-LABEL: define {{.*}}@check(
// FULL: call void @fatal(
// FULL-NEXT: unreachable
int check(int x) {
  if (x < 0)
    fatal("negative");
  return x * 2;
}

// What the programmer wrote stays usable.
// CHECK-LABEL: define {{.*}}@check2(
// CHECK: call void @die(
// CHECK-NEXT: unreachable
int check2(int x) {
  if (x < 0)
    die("negative");
  return x * 2;
}
