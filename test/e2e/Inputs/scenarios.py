"""Live-patch scenarios: each starts a real target, patches it while it works,
and checks its new behaviour, its kept state, and that it lived.
Usage: scenarios.py OBJROOT NAME"""
import os
import signal
import threading
import time

from harness import Failure, check, main
from shared import (ALTSTACK, ALTSTACK_REPLY, STRESS, STRESS_REPLY, TICK_REPLY,
                    patch_between_linked_binaries as linked_binary_pair, program, tick_v)


def threads_apply_revert_cycles(env):
    old, o = env.build("old", {"app.c": program(STRESS.replace("{k}", "3"), STRESS_REPLY)})
    _, n = env.build("new", {"app.c": program(STRESS.replace("{k}", "5"), STRESS_REPLY)})
    patch = env.diff(o, n, env.path("fix.hp"), target=old)
    t = env.spawn(old)
    check(t.ask("start") == "started", "workers")
    cycles = int(os.environ.get("HP_E2E_CYCLES", "200"))
    for i in range(cycles):
        policy = "entry-only" if i % 2 else "strict"
        r = env.apply(t.pid, patch, "--policy", policy)
        check(r["ok"], "apply %d" % i)
        check(t.ask("2") == "10", "patched in cycle %d" % i)
        env.apply(t.pid, "--revert-all")
        check(t.ask("2") == "6", "reverted in cycle %d" % i)
    wrong, calls = map(int, t.ask("stop").split())
    check(calls > 0, "workers ran")
    check(wrong == 0, "%d wrong results in %d calls" % (wrong, calls))
    check(t.alive(), "target died")


BLOCKED = r'''
static int fds[2];
static volatile int read_result = -2, read_errno, sleep_ok = -1;
__attribute__((noinline)) int version(void) { return {v}; }
static void *reader(void *arg) {
  (void)arg; char c;
  int r = (int)read(fds[0], &c, 1);
  read_errno = errno; read_result = r;
  return NULL;
}
static void *sleeper(void *arg) {
  (void)arg;
  struct timespec t = {1, 500000000}, left = {0, 0}, a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  int r = nanosleep(&t, &left);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double slept = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
  sleep_ok = r == 0 && slept >= 1.5;
  return NULL;
}
static pthread_t r_thread, s_thread;
'''
BLOCKED_REPLY = r'''
  if (!strcmp(line, "block")) {
    pipe(fds);
    pthread_create(&r_thread, NULL, reader, NULL);
    pthread_create(&s_thread, NULL, sleeper, NULL);
    usleep(100000);
    printf("blocked\n");
  } else if (!strcmp(line, "release")) {
    write(fds[1], "x", 1);
    pthread_join(r_thread, NULL);
    pthread_join(s_thread, NULL);
    printf("read=%d errno=%d sleep_ok=%d\n", read_result, read_errno, sleep_ok);
  } else printf("%d\n", version());
'''


def blocked_threads_see_no_eintr(env):
    old, o = env.build("old", {"app.c": program(BLOCKED.replace("{v}", "1"), BLOCKED_REPLY)})
    _, n = env.build("new", {"app.c": program(BLOCKED.replace("{v}", "2"), BLOCKED_REPLY)})
    patch = env.diff(o, n, env.path("fix.hp"), target=old)
    t = env.spawn(old)
    check(t.ask("block") == "blocked", "threads blocked")
    env.apply(t.pid, patch)
    check(t.ask("v") == "2", "patched")
    got = t.ask("release")
    check(got == "read=1 errno=0 sleep_ok=1",
          "a blocked read or sleep saw the patch: %s" % got)


SLOW = r'''
static volatile int release_it;
__attribute__((noinline)) int slow(void) { while (!release_it) usleep(1000); return {v}; }
static volatile int result = -1;
static void *runner(void *arg) { (void)arg; result = slow(); return NULL; }
static pthread_t th;
'''
SLOW_REPLY = r'''
  if (!strcmp(line, "enter")) { pthread_create(&th, NULL, runner, NULL); usleep(50000); printf("in\n"); }
  else if (!strcmp(line, "release")) { release_it = 1; pthread_join(th, NULL); printf("%d\n", result); }
  else { release_it = 1; printf("%d\n", slow()); }
'''


def strict_refuses_while_inside(env):
    old, o = env.build("old", {"app.c": program(SLOW.replace("{v}", "1"), SLOW_REPLY)})
    _, n = env.build("new", {"app.c": program(SLOW.replace("{v}", "2"), SLOW_REPLY)})
    patch = env.diff(o, n, env.path("fix.hp"), target=old)
    t = env.spawn(old)
    check(t.ask("enter") == "in", "a thread inside slow()")
    r = env.apply(t.pid, patch, "--retries", "5", expect=3)
    check("inside" in r["error"], "strict refusal: %r" % r)
    check(env.apply(t.pid, "--list")["patches"] == [], "nothing applied")
    check(t.ask("release") == "1", "the running frame kept old code, untouched")
    env.apply(t.pid, patch)
    check(t.ask("call") == "2", "applies once the thread left")


def strict_sees_through_alternate_stack(env, storage=""):
    """A thread inside a replaced function runs a signal handler on an
    alternate stack (and stays there): the function's frame is on the
    thread's own stack, its stack pointer on the other. Strict must still
    see it, and refuse."""
    source = ALTSTACK.replace("{storage}", storage)
    old, o = env.build("old", {"app.c": program(source.replace("{v}", "1"), ALTSTACK_REPLY)})
    _, n = env.build("new", {"app.c": program(source.replace("{v}", "2"), ALTSTACK_REPLY)})
    patch = env.diff(o, n, env.path("fix.hp"), target=old)
    t = env.spawn(old)
    check(t.ask("start") == "started", "a thread parked in a handler on its alternate stack")
    r = env.apply(t.pid, patch, "--retries", "3", expect=3)
    check("inside" in r["error"], "strict refusal: %r" % r)
    check(env.apply(t.pid, "--list")["patches"] == [], "nothing applied")
    r = env.apply(t.pid, patch, "--policy", "entry-only")
    check(r["ok"], "entry-only applies: %r" % r)
    check(t.alive(), "target died")


def strict_sees_through_alternate_stack_in_tls(env):
    """The same with the alternate stack a thread-local array: it lies in
    the thread's static TLS, just under its thread block, at the top of its
    own stack memory, where the stack scan stops."""
    strict_sees_through_alternate_stack(env, "__thread")


NOCFI = r'''
static volatile int release_it;
__attribute__((noinline)) void park(void) { while (!release_it) usleep(1000); }
/* A frame with no unwind information, and the frame pointer cleared: no
   walk gets past it. */
void nocfi_mid(void);
__asm__(".text\n.globl nocfi_mid\n.type nocfi_mid,@function\nnocfi_mid:\n"
        "  push %rbp\n  xor %ebp, %ebp\n  call park@PLT\n  pop %rbp\n  ret\n"
        ".size nocfi_mid, .-nocfi_mid\n");
__attribute__((noinline)) int outer(void) { nocfi_mid(); return {v}; }
static volatile int result = -1;
static void *runner(void *arg) { (void)arg; result = outer(); return NULL; }
static pthread_t th;
'''


def strict_refuses_when_walk_stops_short(env):
    """A thread inside a replaced function, below a frame no walk can pass
    (no unwind tables, no frame pointer): its stack words point into the
    function, its walk never reaches it. Strict must refuse, not call it
    clear, and apply once the thread has left."""
    old, o = env.build("old", {"app.c": program(NOCFI.replace("{v}", "1"), SLOW_REPLY.replace("slow()", "outer()"))})
    _, n = env.build("new", {"app.c": program(NOCFI.replace("{v}", "2"), SLOW_REPLY.replace("slow()", "outer()"))})
    patch = env.diff(o, n, env.path("fix.hp"), target=old)
    t = env.spawn(old)
    check(t.ask("enter") == "in", "a thread inside outer(), under a frame without unwind tables")
    r = env.apply(t.pid, patch, "--retries", "3", expect=3)
    check("cannot be walked" in r["error"], "strict refusal: %r" % r)
    check(env.apply(t.pid, "--list")["patches"] == [], "nothing applied")
    check(t.ask("release") == "1", "the running frame kept the old code")
    env.apply(t.pid, patch)
    check(t.ask("call") == "2", "applies once the thread left")
    check(t.alive(), "target died")


SPAWNER = r"""
static volatile int stop_spawning;
static long bad;
__attribute__((noinline)) long value(long x) { return x * {k}; }
static void *short_lived(void *arg) {
  long x = (long)arg, r = value(x);
  if (r != x * 2 && r != x * 9) __atomic_add_fetch(&bad, 1, __ATOMIC_SEQ_CST);
  return NULL;
}
static void *spawner(void *arg) {
  (void)arg;
  for (long i = 1; !stop_spawning; ++i) {
    pthread_t t;
    if (pthread_create(&t, NULL, short_lived, (void *)i) == 0) pthread_join(t, NULL);
  }
  return NULL;
}
static pthread_t sp[2];
"""
SPAWNER_REPLY = r"""
  if (!strcmp(line, "spawn")) { for (int i = 0; i < 2; ++i) pthread_create(&sp[i], NULL, spawner, NULL); printf("spawning\n"); }
  else if (!strcmp(line, "stop")) { stop_spawning = 1; for (int i = 0; i < 2; ++i) pthread_join(sp[i], NULL); printf("%ld\n", bad); }
  else printf("%ld\n", value(atol(line)));
"""


def threads_created_during_attach(env):
    old, o = env.build("old", {"app.c": program(SPAWNER.replace("{k}", "2"), SPAWNER_REPLY)})
    _, n = env.build("new", {"app.c": program(SPAWNER.replace("{k}", "9"), SPAWNER_REPLY)})
    patch = env.diff(o, n, env.path("fix.hp"), target=old)
    t = env.spawn(old)
    check(t.ask("spawn") == "spawning", "spawning")
    for i in range(10):
        env.apply(t.pid, patch, "--policy", "strict" if i % 2 else "entry-only", "--retries", "100")
        check(t.ask("3") == "27", "patched while threads come and go (%d)" % i)
        env.apply(t.pid, "--revert-all")
        check(t.ask("3") == "6", "reverted (%d)" % i)
    check(t.ask("stop") == "0", "no short-lived thread saw a wrong value")
    check(t.alive(), "target died")


def target_exits_during_apply(env):
    body = r"""
__attribute__((noinline)) int tick(void) { static int count; return count += {k}; }
"""
    reply = r"""
  if (!strcmp(line, "exit-soon")) { printf("ok\n"); fflush(stdout); usleep(atoi(line + 9) + 1000); exit(0); }
  printf("%d\n", tick());
"""
    old, o = env.build("old", {"app.c": program(body.replace("{k}", "1"), reply)})
    _, n = env.build("new", {"app.c": program(body.replace("{k}", "5"), reply)})
    patch = env.diff(o, n, env.path("fix.hp"), target=old)
    import random
    rng = random.Random(7)
    codes = set()
    for i in range(12):
        t = env.spawn(old)
        t.ask("tick")
        t.proc.stdin.write("exit-soon\n")
        t.proc.stdin.flush()
        time.sleep(rng.random() * 0.004)
        r = env.run([os.path.join(env.bin, "hp-apply"), "-p", str(t.pid), patch],
                    expect=None, timeout=30)
        check(r.returncode in (0, 1, 4), "hp-apply exited %d: %s" % (r.returncode, r.stderr))
        codes.add(r.returncode)
        t.proc.wait(timeout=10)
    check(codes, "ran")


def many_steps(step):
    """24 functions over several pages of code, one patch changes them all:
    their sum tells old (24), new (24 * step) and any mix apart."""
    fns = "\n".join(
        "__attribute__((noinline)) int part%d(void) { volatile int pad[64]; "
        "for (int i = 0; i < 64; ++i) pad[i] = i * %d; return pad[%d] * 0 + %d; }"
        % (i, i + 1, i, step) for i in range(24))
    reply = "  int sum = 0;\n" + "".join("  sum += part%d();\n" % i for i in range(24)) + \
        '  printf("%d\\n", sum);'
    return fns, reply


def hp_apply_killed_midway(env):
    """hp-apply SIGKILLed at random points while it flips 24 functions on
    several pages (strict and entry-only): the target lives and runs all
    old or all new code, never a mix; --revert-all then brings the old
    code back."""
    fns_old, reply = many_steps(1)
    fns_new, _ = many_steps(1000)
    old, o = env.build("old", {"app.c": program(fns_old, reply)})
    _, n = env.build("new", {"app.c": program(fns_new, reply)})
    patch = env.diff(o, n, env.path("fix.hp"), target=old)
    t = env.spawn(old)
    import random, subprocess as sp
    rng = random.Random(11)
    check(t.ask("x") == "24", "old code")
    outcomes = []
    for i in range(30):
        policy = "entry-only" if i % 2 else "strict"
        p = sp.Popen([os.path.join(env.bin, "hp-apply"), "-p", str(t.pid),
                      "--policy", policy, patch],
                     stdout=sp.DEVNULL, stderr=sp.DEVNULL)
        # hp-apply lives ~20 ms here (more under load; most of it loading
        # libraries), its work 3-10 ms of that: kill it anywhere in there.
        time.sleep(rng.random() * 0.05)
        p.kill()
        p.wait()
        check(t.alive(), "target died after hp-apply was killed (round %d)" % i)
        got = t.ask("x")
        check(got in ("24", "24000"), "half a patch: the sum is %s (round %d)" % (got, i))
        outcomes.append(got)
        env.apply(t.pid, "--revert-all")
        check(t.ask("x") == "24", "revert after a killed hp-apply left new code (round %d)" % i)
    # Where the random kills fell (before or after the commit) depends on
    # the machine's load; the kill below falls between two entries for sure.
    print("random kills: %d left the old code, %d the new" %
          (sum(1 for v in outcomes if v == "24"), sum(1 for v in outcomes if v != "24")))
    # And for sure between two entries: slowed to 100 ms an entry (a test
    # hook), so the 24 entries take 2.4 s, and killed 1 s in: time enough
    # to start even on a loaded machine, never enough to finish.
    p = sp.Popen([os.path.join(env.bin, "hp-apply"), "-p", str(t.pid),
                  "--policy", "entry-only", patch],
                 stdout=sp.DEVNULL, stderr=sp.DEVNULL,
                 env=dict(os.environ, HOTPATCH_TEST_FLIP_DELAY_US="100000"))
    time.sleep(1.0)
    p.kill()
    p.wait()
    check(p.returncode == -9, "hp-apply finished before the kill")
    got = t.ask("x")
    check(got == "24", "killed between two entries, the target runs %s, not the old 24" % got)
    listed = env.apply(t.pid, "--list")
    check(listed["patches"] and not listed["patches"][-1]["committed"],
          "--list does not say the patch was interrupted: %r" % listed)
    env.apply(t.pid, "--revert-all")
    check(t.ask("x") == "24", "revert after the interrupted patch")
    env.apply(t.pid, patch)
    check(t.ask("x") == "24000", "a full apply after all that")
    check(t.alive(), "target died")


def zero_stop_under_load(env):
    """entry-only under 8 busy threads: no thread is stopped for the flip,
    every result is the old or the new one, and one thread was borrowed
    only to place the patch."""
    old, o = env.build("old", {"app.c": program(STRESS.replace("{k}", "3"), STRESS_REPLY)})
    _, n = env.build("new", {"app.c": program(STRESS.replace("{k}", "5"), STRESS_REPLY)})
    patch = env.diff(o, n, env.path("fix.hp"), target=old)
    t = env.spawn(old)
    check(t.ask("start") == "started", "workers")
    r = env.apply(t.pid, patch, "--policy", "entry-only")
    check(r["threads_stopped"] == 0 and r["pause_ns"] == 0, "zero-stop: %r" % r)
    check(r["threads"] >= 9, "all threads seen: %r" % r)
    check(t.ask("2") == "10", "patched")
    wrong, calls = map(int, t.ask("stop").split())
    check(wrong == 0 and calls > 0, "%d wrong of %d" % (wrong, calls))


def linked_binaries(env):
    linked_binary_pair(env, [])


def linked_binaries_lld_no_pie(env):
    linked_binary_pair(env, ["-fuse-ld=lld", "-no-pie"])


SCENARIOS = {f.__name__.replace("_", "-"): f for f in [
    threads_apply_revert_cycles, blocked_threads_see_no_eintr,
    strict_refuses_while_inside, threads_created_during_attach, target_exits_during_apply,
    hp_apply_killed_midway, zero_stop_under_load,
    linked_binaries, linked_binaries_lld_no_pie,
    strict_sees_through_alternate_stack, strict_sees_through_alternate_stack_in_tls,
    strict_refuses_when_walk_stops_short]}

if __name__ == "__main__":
    main(SCENARIOS)
