// The x86_64 suite's live-dry-run-changes-nothing on arm64: --dry-run
// checks everything, reports ok and dry_run, and changes nothing: the old
// code runs, --list shows no patch, the mappings are the same; then the
// real apply works on the same process.
#include "repl.h"

int main(void) {
  struct target t = spawn("/data/tick/app");
  CHECK(!strcmp(ask(&t, "tick"), "1"), "old code");
  int before = mappings(t.pid);
  const char *r = hp_apply(t.pid, 0, "--dry-run", "/data/tick/fix.hp", (char *)NULL);
  CHECK(has(r, "ok", "true") && has(r, "dry_run", "true"), "dry run: %s", r);
  CHECK(!strcmp(ask(&t, "tick"), "2"), "unchanged");
  CHECK(mappings(t.pid) == before, "mappings: %d, were %d", mappings(t.pid), before);
  r = hp_apply(t.pid, 0, "--list", (char *)NULL);
  CHECK(has(r, "patches", "[]"), "a record after a dry run: %s", r);
  hp_apply(t.pid, 0, "/data/tick/fix.hp", (char *)NULL);
  CHECK(!strcmp(ask(&t, "tick"), "12"), "the real apply");
  quit(&t);
  return 0;
}
