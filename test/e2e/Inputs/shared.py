"""Target programs, and steps, that several live-*.test scenarios use. What
one scenario alone uses stays in its .test file."""
from harness import check

# A target that answers commands on stdin, one line each: the loop is the
# same in every target, what a scenario changes is {body} and reply().
# Line-buffered stdout, so every answer reaches the harness at once.
REPL = r'''
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
{body}
__attribute__((noinline)) static void reply(const char *line);
int main(void) {
  char line[256];
  setvbuf(stdout, NULL, _IOLBF, 0);
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\n")] = 0;
    if (!strcmp(line, "quit")) break;
    reply(line);
  }
  return 0;
}
'''


def program(body, reply):
    """The REPL target with BODY (declarations, functions) and REPLY (the
    body of `void reply(const char *line)`, which answers one line)."""
    # reply() is never inlined into main(): main runs the REPL loop for the
    # whole life of the target, so a change inlined into it could never be
    # applied under the strict policy.
    return (REPL.replace("{body}", body) +
            "\n__attribute__((noinline)) static void reply(const char *line) {\n" +
            reply + "\n}\n")


# Answers "tick" with tick()'s result.
TICK_REPLY = r'''
  if (!strcmp(line, "tick")) printf("%d\n", tick());
  else printf("?\n");
'''


def tick_v(step):
    """tick(): a static count that grows by STEP at each call."""
    return ("__attribute__((noinline)) int tick(void) "
            "{ static int count; return count += %d; }" % step)


def tick_program(step):
    """The REPL target answering "tick" with a count growing by STEP: two
    versions of it differ in one function's body, and the patch must keep
    the count."""
    return program(tick_v(step), TICK_REPLY)


# 8 worker threads call compute() as fast as they can and count the results
# that are neither the old (x * 3) nor the new (x * 5) one.
STRESS = r'''
static volatile int stop_all;
static long wrong, calls;
__attribute__((noinline)) long compute(long x) { return x * {k}; }
static void *worker(void *arg) {
  long x = (long)arg, mine_wrong = 0, mine_calls = 0;
  while (!stop_all) {
    long r = compute(x);
    if (r != x * 3 && r != x * 5) ++mine_wrong;
    ++mine_calls;
  }
  __atomic_add_fetch(&wrong, mine_wrong, __ATOMIC_SEQ_CST);
  __atomic_add_fetch(&calls, mine_calls, __ATOMIC_SEQ_CST);
  return NULL;
}
static pthread_t threads[8];
'''
STRESS_REPLY = r'''
  if (!strcmp(line, "start")) {
    for (long i = 0; i < 8; ++i) pthread_create(&threads[i], NULL, worker, (void *)(i + 1));
    printf("started\n");
  } else if (!strcmp(line, "stop")) {
    stop_all = 1;
    for (int i = 0; i < 8; ++i) pthread_join(threads[i], NULL);
    printf("%ld %ld\n", wrong, calls);
  } else printf("%ld\n", compute(atol(line)));
'''


def stress_program(k):
    """The STRESS target with compute(x) = x * K: "start" starts the
    workers, "stop" stops them and answers "WRONG CALLS", a number N
    answers compute(N). The harness patches 3 into 5."""
    return program(STRESS.replace("{k}", str(k)), STRESS_REPLY)


def park_reply(fn):
    """A reply() for a target whose FN() waits until release_it is set. The
    body defines release_it, result, th, and runner(), a thread that sets
    result = FN(). "enter" starts the thread and answers "in" once it is
    inside FN(); "release" lets it return and answers its result; any other
    line releases FN() and answers a call of it from the REPL thread."""
    return r'''
  if (!strcmp(line, "enter")) { pthread_create(&th, NULL, runner, NULL); usleep(50000); printf("in\n"); }
  else if (!strcmp(line, "release")) { release_it = 1; pthread_join(th, NULL); printf("%d\n", result); }
  else { release_it = 1; printf("%d\n", {fn}); }
'''.replace("{fn}", fn + "()")


# A thread calls stuck(), which raises SIGUSR1; the handler runs on the
# alternate stack `alt` and never returns. {storage}: "" or "__thread".
ALTSTACK = r'''
static {storage} char alt[1 << 16];
static void on_usr1(int sig) { (void)sig; for (;;) pause(); } /* never returns */
__attribute__((noinline)) void poke(void) { raise(SIGUSR1); }
__attribute__((noinline)) int stuck(void) { poke(); return {v}; }
__attribute__((noinline)) static void arm(void) { /* (unchanged by the fix) */
  stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt};
  sigaltstack(&ss, NULL);
  struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_ONSTACK};
  sigaction(SIGUSR1, &sa, NULL);
}
static void *sleeper(void *arg) {
  (void)arg;
  arm();
  return (void *)(long)stuck();
}
'''
ALTSTACK_REPLY = r'''
  static pthread_t t;
  if (!strcmp(line, "start")) { pthread_create(&t, NULL, sleeper, NULL); usleep(100000); printf("started\n"); }
  else printf("?\n");
'''


def strict_refuses_thread_on_alternate_stack(env, storage):
    """A patch of stuck() while a thread is inside it, parked in a signal
    handler on an alternate stack (STORAGE: its storage class): strict
    refuses and changes nothing, entry-only applies."""
    source = ALTSTACK.replace("{storage}", storage)
    old, patch = env.old_and_patch(
        {"app.c": program(source.replace("{v}", "1"), ALTSTACK_REPLY)},
        {"app.c": program(source.replace("{v}", "2"), ALTSTACK_REPLY)})
    t = env.spawn(old)
    check(t.ask("start") == "started", "a thread parked in a handler on its alternate stack")
    r = env.apply(t.pid, patch, "--retries", "3", expect=3)
    check("inside" in r["error"], "strict refusal: %r" % r)
    check(env.apply(t.pid, "--list")["patches"] == [], "nothing applied")
    r = env.apply(t.pid, patch, "--policy", "entry-only")
    check(r["ok"], "entry-only applies: %r" % r)
    check(t.alive(), "target died")


# Two files with a file-local `counter` each; a.c's grade() is a switch
# that compiles to a jump table, its last string is {five}.
LINKED_A = r'''
#include <stdio.h>
static int counter;   /* same name as b.c's: each file keeps its own */
__attribute__((noinline)) const char *grade(int n) {
  switch (n % 6) {
  case 0: return "zero"; case 1: return "one"; case 2: return "two";
  case 3: return "three"; case 4: return "four"; default: return "{five}";
  }
}
__attribute__((noinline)) int bump_a(void) { return counter += {step}; }
'''
LINKED_B = r'''
static int counter;
__attribute__((noinline)) int bump_b(void) { return counter += 100; }
'''
LINKED_REPLY = r'''
  int a = bump_a(), b = bump_b();
  printf("%d %d %s\n", a, b, grade(atoi(line)));
'''


def patch_between_linked_binaries(env, ldflags):
    """hp-diff on the two linked executables (linked with LDFLAGS and
    --emit-relocs), no objects: a body fix on a file-local counter whose
    name another file shares, a switch through a jump table, a changed
    string; applied live, the state kept."""
    decl = "int bump_a(void); int bump_b(void); const char *grade(int);"

    def build(version, step, five):
        a = LINKED_A.replace("{step}", step).replace("{five}", five)
        return env.build(version, {"app.c": program(decl, LINKED_REPLY), "a.c": a,
                                   "b.c": LINKED_B},
                         ldflags=["-Wl,--emit-relocs"] + ldflags)[0]
    old = build("old", "1", "five")
    new = build("new", "2", "FIVE!")
    patch = env.path("fix.hp")
    env.run([env.tool("hp-diff"), old, new, "-o", patch])
    t = env.spawn(old)
    check(t.ask("5") == "1 100 five" and t.ask("2") == "2 200 two", "old code")
    report = env.apply(t.pid, patch)
    check(sorted(report["functions"]) == ["bump_a", "grade"], "report: %r" % report)
    got = [t.ask(str(n)) for n in (5, 3, 0)]
    check(got == ["4 300 FIVE!", "6 400 three", "8 500 zero"],
          "new code on both kept counters: %r" % got)
    check(t.alive(), "target died")


def many_steps(step):
    """24 functions over several pages of code, one patch changes them all:
    their sum tells old (24), new (24 * step) and any mix apart. Returns
    (body, reply)."""
    fns = "\n".join(
        "__attribute__((noinline)) int part%d(void) { volatile int pad[64]; "
        "for (int i = 0; i < 64; ++i) pad[i] = i * %d; return pad[%d] * 0 + %d; }"
        % (i, i + 1, i, step) for i in range(24))
    reply = "  int sum = 0;\n" + "".join("  sum += part%d();\n" % i for i in range(24)) + \
        '  printf("%d\\n", sum);'
    return fns, reply
