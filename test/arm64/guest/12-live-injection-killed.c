// hp-apply killed while the borrowed thread sits in the injected code (at
// the exit of the injected mmap, held there by HOTPATCH_TEST_INJECT_DELAY_US):
// the thread runs the cave's rt_sigreturn by itself, every register back,
// and carries on where it was, in read() on its input, which restarts (no
// EINTR: fgets would see an error and the target would quit). Then a
// whole apply works and the new code runs on the kept count.
#include "repl.h"

int main(void) {
  struct target t = spawn("/data/tick/app");
  CHECK(!strcmp(ask(&t, "tick"), "1"), "old code");
  pid_t p = fork();
  if (p == 0) {
    setenv("HOTPATCH_TEST_INJECT_DELAY_US", "3000000", 1);
    char pid[16];
    snprintf(pid, sizeof pid, "%d", (int)t.pid);
    execl("/bin/hp-apply", "hp-apply", "-p", pid, "/data/tick/fix.hp", (char *)NULL);
    _exit(127);
  }
  // Attaching and finding the module take ~0.1 s here; the first
  // injection then waits 3 s.
  sleep(1);
  // The borrowed thread is traced and stopped: its state says so.
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)t.pid);
  FILE *f = fopen(path, "r");
  int traced = 0;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "TracerPid:", 10) && atoi(line + 10) == p)
      traced = 1;
  if (f) fclose(f);
  CHECK(traced, "hp-apply is not tracing the target 1 s in");
  kill(p, SIGKILL);
  int status;
  waitpid(p, &status, 0);
  CHECK(WIFSIGNALED(status), "hp-apply finished before the kill: %#x", status);
  CHECK(alive(&t), "target died after hp-apply was killed in its injected code");
  const char *got = ask(&t, "tick");
  CHECK(!strcmp(got, "2"), "after the kill: wanted 2 (old code, count kept), got %s", got);
  const char *r = hp_apply(t.pid, 0, "/data/tick/fix.hp", (char *)NULL);
  CHECK(has(r, "ok", "true") && !strstr(r, "warning"), "apply: %s", r);
  got = ask(&t, "tick");
  CHECK(!strcmp(got, "12"), "new code: wanted 12, got %s", got);
  CHECK(alive(&t), "target died");
  return 0;
}
