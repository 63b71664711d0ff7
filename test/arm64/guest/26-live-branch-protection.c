// A library built with -mbranch-protection=standard (BTI and return
// addresses signed with pointer authentication), its text mapped guarded
// by ld.so (PROT_BTI: "bt" in its VmFlags; Debian 12's static glibc has
// no BTI, so no static program is guarded). tick() starts with `bti c`, then the
// patchable NOP: the apply keeps the landing pad and flips the NOP behind
// it; the new tick() calls back into the module (bl), through a function
// pointer (blr onto a `bti c`), and signs its own return address. Then the
// patch placed beyond `b`'s reach (a test hook), and hp-apply killed after
// the entries went to the gates but before the commit: every call then
// takes its gate's far way back into the guarded text, to the instruction
// after the NOP. In tick() that is its paciasp, a landing pad; in rate(),
// a leaf, it is none (a `br` there is a BTI fault: SIGILL). The old code
// must run in both.
#include "repl.h"

#define BTI_C 0xd503245fu
#define NOP 0xd503201fu

static int guarded(pid_t pid, unsigned long long addr) {
  char file[64], line[512];
  snprintf(file, sizeof file, "/proc/%d/smaps", (int)pid);
  FILE *f = fopen(file, "r");
  CHECK(f, "%s: %s", file, strerror(errno));
  int in = 0, bt = -1;
  while (fgets(line, sizeof line, f)) {
    unsigned long long lo, hi;
    if (sscanf(line, "%llx-%llx ", &lo, &hi) == 2 && strchr(line, ' ') == line + strcspn(line, " "))
      in = addr >= lo && addr < hi;
    else if (in && !strncmp(line, "VmFlags:", 8)) {
      bt = strstr(line, " bt") != NULL;
      break;
    }
  }
  fclose(f);
  CHECK(bt >= 0, "no mapping of %llx in %s", addr, file);
  return bt;
}

static unsigned word(pid_t pid, unsigned long long addr) {
  unsigned w;
  peek(pid, addr, &w, 4);
  return w;
}

static int tick(struct target *t) { return atoi(ask(t, "tick")); }

int main(void) {
  const char *lib = "/data/bti/libtick.so";
  unsigned long long offset = symbol(lib, "tick");
  CHECK(offset, "no tick in %s", lib);
  struct target t = spawn("/data/bti/app");
  int count = tick(&t);
  CHECK(count == 1, "old code: %d", count);
  unsigned long long entry = mapping_start(t.pid, lib, "") + offset;
  unsigned long long rate = mapping_start(t.pid, lib, "") + symbol(lib, "rate");
  CHECK(rate != entry && word(t.pid, rate) == BTI_C && word(t.pid, rate + 4) == NOP &&
        word(t.pid, rate + 8) != 0xd503233fu,
        "rate() is not bti c; nop; and no paciasp: %08x %08x %08x", word(t.pid, rate),
        word(t.pid, rate + 4), word(t.pid, rate + 8));
  CHECK(!strcmp(ask(&t, "rate 7"), "14"), "old rate()");
  CHECK(guarded(t.pid, entry), "the target's text is not BTI-guarded (no PROT_BTI)");
  CHECK(word(t.pid, entry) == BTI_C && word(t.pid, entry + 4) == NOP,
        "tick() does not start with bti c; nop: %08x %08x", word(t.pid, entry),
        word(t.pid, entry + 4));

  // Near: the new code calls back into the module and through a pointer.
  const char *r = hp_apply(t.pid, 0, "/data/bti/calls.hp", (char *)NULL);
  CHECK(has(r, "ok", "true"), "apply: %s", r);
  CHECK(word(t.pid, entry) == BTI_C && (word(t.pid, entry + 4) >> 26) == 0x05,
        "the landing pad kept, the NOP a b: %08x %08x", word(t.pid, entry),
        word(t.pid, entry + 4));
  count += 10 + 0; // + base(0) - 1
  CHECK(tick(&t) == count, "new code: wanted %d", count);
  CHECK(!strcmp(ask(&t, "ptr"), "42"), "an indirect call onto bti c");
  CHECK(!strcmp(ask(&t, "rate 7"), "21"), "new rate()");
  hp_apply(t.pid, 0, "--revert-all", (char *)NULL);
  CHECK(word(t.pid, entry + 4) == NOP, "revert left %08x", word(t.pid, entry + 4));
  CHECK(tick(&t) == ++count, "old code back");

  // Far, and interrupted before the commit: calls go through the gate.
  setenv("HOTPATCH_TEST_PLACE_AT_LEAST_MIB", "256", 1);
  setenv("HOTPATCH_TEST_FLIP_DELAY_US", "2000000", 1); // 2 s after each entry
  pid_t p = fork();
  if (p == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    char pid[16];
    snprintf(pid, sizeof pid, "%d", (int)t.pid);
    execl("/bin/hp-apply", "hp-apply", "-p", pid, "--policy", "entry-only",
          "/data/bti/fix.hp", (char *)NULL);
    _exit(127);
  }
  unsetenv("HOTPATCH_TEST_FLIP_DELAY_US");
  // Until both entries are flipped (the placement takes a while under TCG).
  for (int i = 0; i < 200 && (word(t.pid, entry + 4) == NOP || word(t.pid, rate + 4) == NOP); ++i)
    usleep(50000);
  kill(p, SIGKILL);
  int status;
  waitpid(p, &status, 0);
  CHECK(WIFSIGNALED(status), "hp-apply finished before the kill: %#x", status);
  unsigned site = word(t.pid, entry + 4), pad[2];
  peek(t.pid, entry - 16, pad, 8);
  CHECK(site == (0x14000000u | ((unsigned)(-20 / 4) & 0x03ffffffu)),
        "the entry is not a b back into the padding: %08x", site);
  CHECK(pad[0] == 0x58000050u && pad[1] == 0xd61f0200u,
        "the padding is not the far jump (ldr x16; br x16): %08x %08x", pad[0], pad[1]);
  r = hp_apply(t.pid, 0, "--list", (char *)NULL);
  CHECK(has(r, "committed", "false"), "--list does not say interrupted: %s", r);
  CHECK(tick(&t) == ++count, "through the far gate, the old code must run");
  CHECK((word(t.pid, rate + 4) >> 26) == 0x05, "rate()'s entry not flipped: %08x",
        word(t.pid, rate + 4));
  const char *got = ask(&t, "rate 7");
  CHECK(!strcmp(got, "14"), "rate(), through its far gate onto no landing pad: %s", got);
  CHECK(!strcmp(ask(&t, "ptr"), "42"), "ptr");
  CHECK(alive(&t), "target died");
  hp_apply(t.pid, 0, "--revert-all", (char *)NULL);

  // Far, whole: into the new code by the padding's literal jump.
  r = hp_apply(t.pid, 0, "/data/bti/fix.hp", (char *)NULL);
  unsigned long long at = num(r, "patch_address");
  CHECK((at > entry ? at - entry : entry - at) > (128ull << 20), "the patch at %llx is within 128 MiB of %llx", at, entry);
  count += 10;
  CHECK(tick(&t) == count, "new code, far: wanted %d", count);
  CHECK(tick(&t) == (count += 10), "new code, far, again");
  CHECK(!strcmp(ask(&t, "rate 7"), "21"), "new rate(), far");
  hp_apply(t.pid, 0, "--revert-all", (char *)NULL);
  CHECK(tick(&t) == ++count, "old code back");
  unsetenv("HOTPATCH_TEST_PLACE_AT_LEAST_MIB");
  quit(&t);
  printf("bti: guarded target patched near and far, interrupted far gate ran old code\n");
  return 0;
}
