"""Targets and steps the live-tls-*.test scenarios share: several threads,
each with its own value of thread-local variables that bump() changes."""
from harness import apply_strict, check

# Worker threads wait for "step"; each then calls bump(i + 1) once (i: its
# number) and the REPL prints every thread's result, in thread order.
# "spawn" starts one more worker. bump() is the program's or a library's.
THREADS = r'''
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
{decls}
#define MAX_THREADS 8
static sem_t go[MAX_THREADS], done[MAX_THREADS];
static long result[MAX_THREADS];
static pthread_t th[MAX_THREADS];
static int nthreads;
static void *worker(void *arg) {
  long i = (long)arg;
  for (;;) {
    sem_wait(&go[i]);
    result[i] = bump(i + 1);
    sem_post(&done[i]);
  }
  return NULL;
}
int main(void) {
  char line[64];
  setvbuf(stdout, NULL, _IOLBF, 0);
  while (fgets(line, sizeof line, stdin)) {
    if (!strncmp(line, "quit", 4)) break;
    if (!strncmp(line, "spawn", 5)) {
      sem_init(&go[nthreads], 0, 0);
      sem_init(&done[nthreads], 0, 0);
      pthread_create(&th[nthreads], NULL, worker, (void *)(long)nthreads);
      ++nthreads;
      printf("%d\n", nthreads);
      continue;
    }
    for (int i = 0; i < nthreads; ++i) sem_post(&go[i]);
    for (int i = 0; i < nthreads; ++i) sem_wait(&done[i]);
    for (int i = 0; i < nthreads; ++i) printf("%ld%c", result[i], i + 1 < nthreads ? ' ' : '\n');
  }
  return 0;
}
'''


def threads_program(decls):
    """The THREADS target with DECLS (bump() or its declaration)."""
    return THREADS.replace("{decls}", decls)


def step(t):
    return [int(x) for x in t.ask("step").split()]


def check_per_thread(env, t, patch, value, wanted=("bump",)):
    """Three threads bump their own thread-local state twice with the old
    code, the patch is applied strictly, then each bumps again with the new
    code, and a thread created after the patch starts from its own fresh
    copy. VALUE(i, old_steps, new_steps) is what thread i answers after
    that many steps of each; WANTED: the functions the patch replaces."""
    for n in range(3):
        check(t.ask("spawn") == str(n + 1), "worker %d started" % n)
    step(t)
    got = step(t)
    want = [value(i, 2, 0) for i in range(3)]
    check(got == want, "old code, per thread: wanted %r, got %r" % (want, got))
    r = apply_strict(env, t, patch, list(wanted))
    got = step(t)
    want = [value(i, 2, 1) for i in range(3)]
    check(got == want, "new code on each thread's own kept values: wanted %r, got %r"
          % (want, got))
    check(t.ask("spawn") == "4", "a worker started after the patch")
    got = step(t)
    want = [value(i, 2, 2) for i in range(3)] + [value(3, 0, 1)]
    check(got == want, "after the patch, old threads and a new one: wanted %r, got %r"
          % (want, got))
    check(t.alive(), "target died")
    return r
