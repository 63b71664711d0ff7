// Functions that never return (a server's accept loop) are flagged, so
// hp-diff can warn that their running frame keeps the old code.
// RUN: %hpcc -O2 -c %s -o %t.o
// RUN: hp-inspect %t.o | FileCheck %s
// CHECK: bounded  global patchable
// CHECK: exits  global patchable
// CHECK: serve_forever  global endless-loop patchable
#include <stdlib.h>
int handle(int);
void serve_forever(void) {
  for (int n = 0;; ++n)
    handle(n);
}
int bounded(int n) {
  int s = 0;
  for (int i = 0; i < n; ++i)
    s += handle(i);
  return s;
}
void exits(int code) {
  if (code)
    exit(code);
}
