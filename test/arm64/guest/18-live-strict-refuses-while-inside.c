// The x86_64 suite's live-strict-refuses-while-inside on arm64: while a
// thread waits inside slow(), strict refuses (exit 3, "inside"; with
// --wait it names the function and says how long it tried), nothing is
// applied, and the running frame finishes in its old code; once it left,
// the same patch applies. The same on a target built with
// -mbranch-protection=standard, whose return addresses on the stack are
// signed (pointer authentication): the check must see through the
// signature. And while slow() waits in a leaf of its own, the return
// address into slow() is in the link register alone.
#include "repl.h"

static void inside(const char *dir) {
  char app[64], fix[64];
  snprintf(app, sizeof app, "%s/app", dir);
  snprintf(fix, sizeof fix, "%s/fix.hp", dir);
  printf("--- %s\n", app);
  struct target t = spawn(app);
  CHECK(!strcmp(ask(&t, "enter"), "in"), "a thread inside slow()");
  const char *r = hp_apply(t.pid, 3, "--retries", "5", fix, (char *)NULL);
  CHECK(strstr(r, "inside"), "strict refusal: %s", r);
  r = hp_apply(t.pid, 3, "--wait", "300ms", fix, (char *)NULL);
  CHECK(strstr(r, "inside slow()") && strstr(r, "tries in 0.3 s"), "--wait refusal: %s", r);
  r = hp_apply(t.pid, 0, "--list", (char *)NULL);
  // (A region whose unwind tables were registered stays, reverted.)
  CHECK(!has(r, "active", "true"), "something was applied: %s", r);
  const char *got = ask(&t, "release");
  CHECK(!strcmp(got, "1"), "the running frame's result: wanted 1, got %s", got);
  hp_apply(t.pid, 0, fix, (char *)NULL);
  got = ask(&t, "call");
  CHECK(!strcmp(got, "2"), "applied once the thread left: %s", got);
  quit(&t);
}

int main(void) {
  inside("/data/inside");
  inside("/data/inside-pac");
  inside("/data/inside-leaf");
  return 0;
}
