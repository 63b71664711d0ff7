/* A call-heavy program: many small functions that are never inlined, called
 * in a dependent chain so the CPU cannot skip work. Prints ns per call. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define LEAF(n) \
  __attribute__((noinline)) unsigned leaf##n(unsigned x) { return x * 2654435761u + n; }
LEAF(0) LEAF(1) LEAF(2) LEAF(3) LEAF(4) LEAF(5) LEAF(6) LEAF(7)

__attribute__((noinline)) unsigned mix(unsigned x) {
  x = leaf0(x); x = leaf1(x); x = leaf2(x); x = leaf3(x);
  x = leaf4(x); x = leaf5(x); x = leaf6(x); x = leaf7(x);
  return x;
}

int main(int argc, char **argv) {
  long iterations = argc > 1 ? atol(argv[1]) : 20000000;
  struct timespec t0, t1;
  unsigned x = 1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < iterations; ++i)
    x = mix(x);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
  printf("%.4f ns/call (checksum %u)\n", ns / (iterations * 9.0), x);
  return 0;
}
