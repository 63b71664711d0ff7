// The x86_64 suite's live-changed-string on arm64: the new greeting()
// returns the patch's own copy of the new string literal (read-only data
// of the patch, reached with adrp/add).
#include "repl.h"

int main(void) {
  struct target t = spawn("/data/string/app");
  CHECK(!strcmp(ask(&t, "x"), "hello"), "old code");
  hp_apply(t.pid, 0, "/data/string/fix.hp", (char *)NULL);
  const char *got = ask(&t, "x");
  CHECK(!strcmp(got, "hello, patched world"), "new string: %s", got);
  quit(&t);
  return 0;
}
