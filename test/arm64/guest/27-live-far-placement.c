// A patch placed more than 128 MiB from its target (a test hook:
// HOTPATCH_TEST_PLACE_AT_LEAST_MIB), out of reach of the entry's `b`: the
// padding becomes `ldr x16, #8; br x16` and the literal the new code's
// address (once committed), the entry a `b` back into the padding; the new
// code reaches the module's data page-relatively (adrp, +-4 GiB) and calls
// through a pointer. A patch whose new code calls into the module (`bl`,
// +-128 MiB) cannot be placed that far: refused, nothing changed, and the
// same patch applies near.
#include "repl.h"

static int tick(struct target *t) { return atoi(ask(t, "tick")); }

int main(void) {
  const char *app = "/data/far/app";
  unsigned long long entry = symbol(app, "tick");
  CHECK(entry, "no tick in %s", app);
  struct target t = spawn(app);
  int count = tick(&t);
  CHECK(count == 1, "old code: %d", count);
  setenv("HOTPATCH_TEST_PLACE_AT_LEAST_MIB", "256", 1);
  const char *r = hp_apply(t.pid, 0, "/data/far/fix.hp", (char *)NULL);
  unsigned long long at = num(r, "patch_address");
  CHECK((at > entry ? at - entry : entry - at) > (128ull << 20), "the patch at %llx is within 128 MiB of %llx", at, entry);
  unsigned pad[4], site;
  unsigned long long literal;
  peek(t.pid, entry - 16, pad, 16);
  peek(t.pid, entry, &site, 4);
  memcpy(&literal, pad + 2, 8);
  CHECK(pad[0] == 0x58000050u && pad[1] == 0xd61f0200u,
        "the padding is not ldr x16, #8; br x16: %08x %08x", pad[0], pad[1]);
  CHECK(literal >= at && literal < at + (1u << 20), "the literal %llx is not in the patch at %llx",
        literal, at);
  CHECK(site == 0x17fffffcu, "the entry is not b -16: %08x", site);
  count += 10;
  CHECK(tick(&t) == count, "new code, far: wanted %d", count);
  CHECK(!strcmp(ask(&t, "ptr"), "42"), "ptr");
  hp_apply(t.pid, 0, "--revert-all", (char *)NULL);
  CHECK(tick(&t) == ++count, "old code back");
  peek(t.pid, entry - 16, pad, 16);
  peek(t.pid, entry, &site, 4);
  CHECK(site == 0xd503201fu && pad[0] == 0xd503201fu && pad[3] == 0xd503201fu,
        "revert left the entry %08x, padding %08x", site, pad[0]);

  // A bl back into the module cannot reach from there.
  char out[8192], pid[16];
  snprintf(pid, sizeof pid, "%d", (int)t.pid);
  char *argv[] = {"/bin/hp-apply", "-p", pid, "--json", "/data/far/calls.hp", NULL};
  int status = run(argv, out, sizeof out);
  printf("hp-apply calls.hp, far -> %d: %s\n", status, out);
  if (!strstr(out, "out of reach")) {
    char cat[64];
    snprintf(cat, sizeof cat, "/proc/%d/maps", (int)t.pid);
    FILE *f = fopen(cat, "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
      printf("  %s", line);
    if (f)
      fclose(f);
  }
  CHECK(status != 0 && strstr(out, "out of reach"), "a bl out of reach was not refused");
  CHECK(tick(&t) == ++count, "the refused patch changed something");
  r = hp_apply(t.pid, 0, "--list", (char *)NULL);
  CHECK(!has(r, "active", "true"), "a refused patch is active: %s", r);
  unsetenv("HOTPATCH_TEST_PLACE_AT_LEAST_MIB");
  hp_apply(t.pid, 0, "/data/far/calls.hp", (char *)NULL);
  count += 10;
  CHECK(tick(&t) == count, "calls.hp near: wanted %d", count);
  quit(&t);
  printf("far: patched %llu MiB away through x16\n", (at > entry ? at - entry : entry - at) >> 20);
  return 0;
}
