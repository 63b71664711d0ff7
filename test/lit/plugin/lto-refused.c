// -flto would fingerprint code that the link-time optimiser rewrites later:
// refused with a clear error, through either plugin, full or thin.
// RUN: not %hpcc -flto -O2 -c %s -o %t.o 2>&1 | FileCheck %s
// RUN: not %hpcc -flto=thin -O2 -c %s -o %t.o 2>&1 | FileCheck %s
// RUN: not %clang -fpass-plugin=%passes -flto -O2 -c %s -o %t.o 2>&1 | FileCheck %s
// RUN: not %clang -fpass-plugin=%passes -flto=thin -O2 -c %s -o %t.o 2>&1 | FileCheck %s
// CHECK: error: hotpatch: -flto is not supported: link-time optimisation changes functions after their fingerprints are taken, so patches made from them would be wrong; build without -flto
int f(void) { return 1; }
