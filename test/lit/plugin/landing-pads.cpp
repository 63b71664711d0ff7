// A function that catches, or runs destructors while an exception passes,
// is flagged: its code needs unwind tables that a patch does not carry.
// RUN: %hpcxx -O2 -c %s -o %t.o
// RUN: hp-inspect %t.o | FileCheck %s
// CHECK-DAG: _Z7catchesv  global landing-pads patchable
// CHECK-DAG: _Z7cleanupv  global landing-pads patchable
// CHECK-DAG: _Z5plainv  global patchable
void mayThrow();
struct Guard { ~Guard(); };
int catches() {
  try { mayThrow(); } catch (...) { return 1; }
  return 0;
}
void cleanup() { Guard g; mayThrow(); }
int plain() { return 3; }
