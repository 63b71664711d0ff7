// C++ through hotpatch.so: members, templates, lambdas and constructors get
// the prologue at every level, on both arches, and keep their mangled names.
// RUN: %hpcxx -O0 -c %s -o %t.O0.o && llvm-objdump -d %t.O0.o | FileCheck %s --check-prefix=X86
// RUN: %hpcxx -O2 -g -c %s -o %t.O2.o && llvm-objdump -d %t.O2.o | FileCheck %s --check-prefix=X86
// RUN: %hpcxx -Os -fPIC -c %s -o %t.Os.o && llvm-objdump -d %t.Os.o | FileCheck %s --check-prefix=X86
// RUN: %hpcxx -O3 -fPIE -c %s -o %t.O3.o && llvm-objdump -d %t.O3.o | FileCheck %s --check-prefix=X86
// RUN: %hpcxx --target=aarch64-linux-gnu -O2 -c %s -o %t.arm.o && llvm-objdump -d %t.arm.o | FileCheck %s --check-prefix=ARM
// RUN: %hpcxx --target=aarch64-linux-gnu -O0 -c %s -o %t.arm0.o && llvm-objdump -d %t.arm0.o | FileCheck %s --check-prefix=ARM
// RUN: hp-inspect %t.O2.o | FileCheck %s --check-prefix=TABLE

// X86-LABEL: <_ZN5Meter4readEv>:
// X86-NEXT: 66 90 nop
// X86-LABEL: <_Z5scaleIlET_S0_>:
// X86-NEXT: 66 90 nop
// ARM-LABEL: <_ZN5Meter4readEv>:
// ARM-NEXT: d503201f nop
// ARM-LABEL: <_Z5scaleIlET_S0_>:
// ARM-NEXT: d503201f nop
// TABLE-DAG: _Z5scaleIlET_S0_  weak comdat(_Z5scaleIlET_S0_) patchable
// TABLE-DAG: _ZN5Meter4readEv  global patchable
// TABLE-DAG: _Z3runv  global patchable

struct Meter {
  long total = 0;
  long read();
};
long Meter::read() { return total++; }
template <typename T> __attribute__((noinline)) T scale(T x) { return x * 3; }
long run() {
  Meter m;
  auto twice = [&m] { return m.read() + m.read(); };
  return scale<long>(twice());
}
