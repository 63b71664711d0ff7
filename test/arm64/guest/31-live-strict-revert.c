// The x86_64 suite's live-strict-revert-waits-for-new-code on arm64: a
// revert under --policy strict waits while a thread runs the patch's new
// f() (which would go on into the old g() through via(), unchanged): exit
// 3 naming the patch, the patch still applied, the thread's f() finishing
// on the new g(); once it left, the revert goes through. (The x86_64
// test's worker nearly always inside f() is not ported: on arm64 a strict
// revert arms no return gate yet, revert.cpp.)
#include "repl.h"

static void inside(void) {
  printf("--- revert-inside\n");
  struct target t = spawn("/data/revert-inside/app");
  hp_apply(t.pid, 0, "/data/revert-inside/fix.hp", (char *)NULL);
  CHECK(!strcmp(ask(&t, "enter"), "in"), "a thread inside the new f()");
  const char *r = hp_apply(t.pid, 3, "--revert-all", "--policy", "strict", "--wait", "300ms",
                           (char *)NULL);
  CHECK(strstr(r, "inside") && strstr(r, "patch 1"), "strict refusal: %s", r);
  r = hp_apply(t.pid, 0, "--list", (char *)NULL);
  CHECK(has(r, "active", "true"), "the patch is still applied: %s", r);
  const char *got = ask(&t, "release");
  CHECK(!strcmp(got, "2"), "the running f() on the new g(): wanted 2, got %s", got);
  hp_apply(t.pid, 0, "--revert-all", "--policy", "strict", (char *)NULL);
  got = ask(&t, "call");
  CHECK(!strcmp(got, "1"), "reverted once the thread left: %s", got);
  quit(&t);
}

int main(void) {
  inside();
  return 0;
}
