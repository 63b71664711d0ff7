// The x86_64 suite's live-pending-signal-delivered on arm64: a SIGUSR1
// pending while the target blocks it is neither lost nor doubled by
// hp-apply's attach, borrowed thread (its injected mmap) and detach: once
// unblocked, the handler runs exactly once.
#include "repl.h"

int main(void) {
  struct target t = spawn("/data/signal/app");
  CHECK(!strcmp(ask(&t, "block"), "blocked"), "SIGUSR1 blocked");
  kill(t.pid, SIGUSR1);
  usleep(50000);
  const char *r = hp_apply(t.pid, 0, "/data/signal/fix.hp", (char *)NULL);
  CHECK(has(r, "ok", "true"), "apply: %s", r);
  CHECK(!strcmp(ask(&t, "v"), "2"), "patched");
  const char *got = ask(&t, "unblock");
  CHECK(!strcmp(got, "got 1"), "the pending signal was delivered once: %s", got);
  quit(&t);
  return 0;
}
