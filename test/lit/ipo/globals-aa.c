// GlobalsAA reads every function's body to learn which globals it may
// write; a loop that polls a flag then reads it once, before the loop, when
// the calls inside it "cannot" write the flag. A fix that starts writing it
// would never stop the loop. Under hotpatch the flag is read on every turn.
// (GlobalOpt may still shrink the flag to a bool: that comes from every
// store to the variable in the file, not from a callee's body.)
// RUN: %hpcc -O2 -S -emit-llvm %s -o - | FileCheck %s
// RUN: %hpcc -O2 -S -emit-llvm %s -o - -fplugin-arg-hotpatch-ipo=full | FileCheck %s --check-prefix=FULL

static int stopping;
static int ticks;
int work(int);

__attribute__((noinline)) void tick(void) { ticks++; }
void request_stop(void) { stopping = 1; }

// CHECK-LABEL: define {{.*}}@run(
// CHECK: [[LOOP:[0-9]+]]:
// CHECK: call void @tick()
// CHECK: load {{i1|i32}}, ptr @stopping
// FULL-LABEL: define {{.*}}@run(
// FULL: load {{i1|i32}}, ptr @stopping
// FULL: [[LOOP:[0-9]+]]:
// FULL-NOT: load {{i1|i32}}, ptr @stopping
// FULL: call void @tick()
int run(void) {
  int n = 0;
  while (!stopping) {
    tick();
    n++;
  }
  return n + ticks;
}
