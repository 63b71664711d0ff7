// A C++ callee whose body cannot throw is inferred `nounwind` by LLVM, and
// its callers drop the landing pad around the call: a fix that starts
// throwing would then pass through a frame with no handler, and the fix
// drags every such caller into the patch. Under hotpatch the invoke stays;
// `noexcept`, which the programmer wrote, still lets callers drop it.
// (clang's own front end already marks a function `nounwind` when its body
// makes no call that may throw, before any pass runs; docs/limits.md says
// what that means. Here parse() calls a function defined later in the file,
// so only LLVM's interprocedural inference can find it cannot throw.)
// RUN: %hpcxx -O2 -S -emit-llvm %s -o - | FileCheck %s
// RUN: %hpcxx -O2 -S -emit-llvm %s -o - -fplugin-arg-hotpatch-ipo=full | FileCheck %s --check-prefix=FULL

int next_request();
void reply(int);
int weigh(int);

__attribute__((noinline)) int parse(int x) { return weigh(x) + 1; }
__attribute__((noinline)) int parse_quietly(int x) noexcept { return weigh(x) + 2; }

// CHECK-LABEL: define {{.*}}@_Z5servev(
// CHECK: invoke {{.*}}i32 @_Z5parsei(
// CHECK-NOT: invoke {{.*}}@_Z13parse_quietlyi(
// CHECK: landingpad
// FULL-LABEL: define {{.*}}@_Z5servev(
// FULL-NOT: invoke {{.*}}@_Z5parsei(
// FULL: call {{.*}}i32 @_Z5parsei(
void serve() {
  for (;;) {
    int r = next_request();
    try {
      reply(parse(r) + parse_quietly(r));
    } catch (...) {
      reply(-1);
    }
  }
}

__attribute__((noinline)) int weigh(int x) { return x * 2; }
