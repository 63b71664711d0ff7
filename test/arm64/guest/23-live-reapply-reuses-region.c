// The x86_64 suite's live-reapply-reuses-region on arm64 (10 cycles): the
// same patch applied and reverted again and again (strict and entry-only
// in turn) takes its reverted region back each time: the patch sits at the
// same address, the mappings and the records do not grow, and the patch's
// own variable (calls) keeps its value across revert and apply.
#include "repl.h"

int main(void) {
  struct target t = spawn("/data/reapply/app");
  long long count = 0, address = -1;
  int maps0 = -1;
  for (int cycle = 1; cycle <= 10; ++cycle) {
    const char *r = hp_apply(t.pid, 0, "--policy", cycle % 2 ? "strict" : "entry-only",
                             "/data/reapply/fix.hp", (char *)NULL);
    CHECK(has(r, "ok", "true") && has(r, "already_applied", "0"), "cycle %d: %s", cycle, r);
    long long at = num(r, "patch_address");
    CHECK(address == -1 || at == address, "the patch moved: %lld, was %lld", at, address);
    address = at;
    count += 10;
    char want[64];
    snprintf(want, sizeof want, "%lld", count + 1000000LL * cycle);
    const char *got = ask(&t, "tick");
    CHECK(!strcmp(got, want), "cycle %d patched: wanted %s, got %s", cycle, want, got);
    hp_apply(t.pid, 0, "--revert-all", (char *)NULL);
    count += 1;
    snprintf(want, sizeof want, "%lld", count);
    got = ask(&t, "tick");
    CHECK(!strcmp(got, want), "cycle %d reverted: wanted %s, got %s", cycle, want, got);
    if (maps0 < 0)
      maps0 = mappings(t.pid);
    CHECK(mappings(t.pid) == maps0, "mappings grew from %d to %d", maps0, mappings(t.pid));
  }
  const char *r = hp_apply(t.pid, 0, "--list", (char *)NULL);
  CHECK(has(r, "id", "1") && !has(r, "id", "2") && has(r, "active", "false"), "records: %s", r);
  quit(&t);
  return 0;
}
