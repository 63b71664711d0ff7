// The x86_64 suite's live-hp-apply-killed-midway on arm64: hp-apply,
// flipping 24 functions, is SIGKILLed at 24 points spread over its run
// (strict and entry-only alternating); each time the target lives and runs
// all old (sum 24) or all new (24000) code, and --revert-all brings the
// old code back. Kills that fall in the placement stop leave the borrowed
// thread in the injected code: it must restore itself (rt_sigreturn) and
// carry on reading its input, with no EINTR. Then one kill between two
// entries for sure (HOTPATCH_TEST_FLIP_DELAY_US): --list shows the patch
// not committed, the old code runs, and a full apply after a revert works.
#include "repl.h"

#include <fcntl.h>
#include <time.h>

static long long now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000LL + t.tv_nsec / 1000;
}

static pid_t start_hp_apply(pid_t target, const char *policy, const char *delay) {
  pid_t p = fork();
  if (p == 0) {
    int null = open("/dev/null", 1);
    dup2(null, 1);
    dup2(null, 2);
    if (delay)
      setenv("HOTPATCH_TEST_FLIP_DELAY_US", delay, 1);
    char pid[16];
    snprintf(pid, sizeof pid, "%d", (int)target);
    execl("/bin/hp-apply", "hp-apply", "-p", pid, "--policy", policy,
          "/data/many/fix.hp", (char *)NULL);
    _exit(127);
  }
  return p;
}


int main(void) {
  struct target t = spawn("/data/many/app");
  CHECK(!strcmp(ask(&t, "x"), "24"), "old code");
  // One whole apply, timed, to spread the kills over it.
  long long start = now_us();
  int status;
  pid_t p = start_hp_apply(t.pid, "strict", NULL);
  waitpid(p, &status, 0);
  long long whole = now_us() - start;
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a whole apply failed: %#x", status);
  CHECK(!strcmp(ask(&t, "x"), "24000"), "new code after a whole apply");
  hp_apply(t.pid, 0, "--revert-all", (char *)NULL);
  CHECK(!strcmp(ask(&t, "x"), "24"), "old code after the revert");
  printf("a whole apply takes %lld us here\n", whole);

  int left_old = 0, left_new = 0;
  const int rounds = 24;
  for (int i = 0; i < rounds; ++i) {
    p = start_hp_apply(t.pid, i % 2 ? "entry-only" : "strict", NULL);
    usleep(whole * (i + 1) / rounds);
    kill(p, SIGKILL);
    waitpid(p, &status, 0);
    CHECK(alive(&t), "target died after hp-apply was killed (round %d)", i);
    const char *got = ask(&t, "x");
    CHECK(!strcmp(got, "24") || !strcmp(got, "24000"),
          "half a patch: the sum is %s (round %d)", got, i);
    !strcmp(got, "24") ? ++left_old : ++left_new;
    const char *r = hp_apply(t.pid, 0, "--revert-all", (char *)NULL);
    CHECK(!strstr(r, "warning"), "round %d: %s", i, r);
    CHECK(!strcmp(ask(&t, "x"), "24"), "revert after a killed hp-apply left new code (round %d)", i);
  }
  printf("killed at %d points: %d left the old code, %d the new\n", rounds, left_old, left_new);

  // 100 ms an entry: 2.4 s for the 24; killed 1 s in.
  p = start_hp_apply(t.pid, "entry-only", "100000");
  sleep(1);
  kill(p, SIGKILL);
  waitpid(p, &status, 0);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "hp-apply finished before the kill");
  CHECK(!strcmp(ask(&t, "x"), "24"), "killed between two entries, the target runs new code");
  const char *r = hp_apply(t.pid, 0, "--list", (char *)NULL);
  CHECK(has(r, "committed", "false"), "--list does not say the patch was interrupted: %s", r);
  hp_apply(t.pid, 0, "--revert-all", (char *)NULL);
  r = hp_apply(t.pid, 0, "/data/many/fix.hp", (char *)NULL);
  CHECK(has(r, "ok", "true"), "apply after the interrupted one: %s", r);
  CHECK(!strcmp(ask(&t, "x"), "24000"), "new code after the final apply");
  CHECK(alive(&t), "target died");
  return 0;
}
