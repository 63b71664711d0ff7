/* A service under load: "start" sets workers calling score() without a
   pause; "score N" answers score(N); "calls" says how many calls the workers
   made (state the patch must keep); "requests" counts the requests. */
#include "score.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long requests;
static long calls;
static long wrong; /* neither the old nor the new answer */

static void *worker(void *arg) {
  long x = (long)arg;
  for (;;) {
    long r = score(x);
    if (r != x * 3 && r != x * 5)
      __atomic_add_fetch(&wrong, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
  }
  return NULL;
}

int main(void) {
  char line[256];
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("ready\n");
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\n")] = 0;
    ++requests;
    if (!strcmp(line, "start")) {
      for (long i = 1; i <= 4; ++i) {
        pthread_t t;
        pthread_create(&t, NULL, worker, (void *)i);
      }
      printf("started\n");
    } else if (!strncmp(line, "score ", 6)) {
      printf("%ld\n", score(atol(line + 6)));
    } else if (!strcmp(line, "calls")) {
      printf("%ld %ld\n", __atomic_load_n(&calls, __ATOMIC_RELAXED),
             __atomic_load_n(&wrong, __ATOMIC_RELAXED));
    } else if (!strcmp(line, "requests")) {
      printf("%ld\n", requests);
    } else {
      printf("?\n");
    }
  }
  return 0;
}
