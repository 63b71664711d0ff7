// The x86_64 suite's live-body-fix on arm64: a one-line body fix (tick()
// counts by 10, not 1) applied to a running static target built with the
// plugin (on the host: test/arm64/scenarios/10-targets.sh). The report
// names tick() and a pause, the new code runs on the count the old code
// left (2 + 10 = 12), the target lives; then --list shows the patch and
// --revert brings the old code back on the same count.
#include "repl.h"

int main(void) {
  struct target t = spawn("/data/tick/app");
  CHECK(!strcmp(ask(&t, "tick"), "1") && !strcmp(ask(&t, "tick"), "2"), "old code");
  const char *r = hp_apply(t.pid, 0, "/data/tick/fix.hp", (char *)NULL);
  CHECK(has(r, "ok", "true") && has(r, "functions", "[\"tick\"]"), "report: %s", r);
  CHECK(!has(r, "pause_ns", "0"), "no pause reported");
  const char *got = ask(&t, "tick");
  CHECK(!strcmp(got, "12"), "new code on the kept state: wanted 12, got %s", got);
  CHECK(alive(&t), "target died");
  r = hp_apply(t.pid, 0, "--list", (char *)NULL);
  CHECK(has(r, "ok", "true") && strstr(r, "tick"), "list: %s", r);
  r = hp_apply(t.pid, 0, "--revert-all", (char *)NULL);
  CHECK(has(r, "ok", "true"), "revert: %s", r);
  got = ask(&t, "tick");
  CHECK(!strcmp(got, "13"), "old code back on the kept state: wanted 13, got %s", got);
  CHECK(alive(&t), "target died after the revert");
  fprintf(t.in, "quit\n");
  fflush(t.in);
  int status;
  waitpid(t.pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "target ended badly: %#x", status);
  printf("live tick: patched 1 -> 10 live on arm64, count kept, reverted\n");
  return 0;
}
