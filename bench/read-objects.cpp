//===- bench/read-objects.cpp - the floor for hp-diff's speed --------------===//
//
// Reads every section, symbol and relocation of the given objects with LLVM's
// object library and nothing else: what any differ must at least do.
// Prints the wall time of the best of N rounds in microseconds.
//
//===----------------------------------------------------------------------===//

#include "llvm/Object/ELFObjectFile.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>

using namespace llvm;
using namespace llvm::object;

int main(int argc, char **argv) {
  if (argc < 3) {
    errs() << "usage: read-objects ROUNDS FILE...\n";
    return 2;
  }
  int rounds = atoi(argv[1]);
  uint64_t checksum = 0;
  double best = 1e30;
  for (int round = 0; round < rounds; ++round) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 2; i < argc; ++i) {
      auto buf = MemoryBuffer::getFile(argv[i], false, false);
      if (!buf) {
        errs() << argv[i] << ": " << buf.getError().message() << "\n";
        return 1;
      }
      auto obj = ObjectFile::createObjectFile((*buf)->getMemBufferRef());
      if (!obj) {
        errs() << argv[i] << ": " << toString(obj.takeError()) << "\n";
        return 1;
      }
      for (const SectionRef &sec : (*obj)->sections()) {
        if (Expected<StringRef> name = sec.getName())
          checksum += name->size();
        else
          consumeError(name.takeError());
        if (Expected<StringRef> data = sec.getContents())
          checksum += data->size();
        else
          consumeError(data.takeError());
        for (const RelocationRef &rel : sec.relocations())
          checksum += rel.getOffset() + rel.getType();
      }
      for (const SymbolRef &sym : (*obj)->symbols()) {
        if (Expected<StringRef> name = sym.getName())
          checksum += name->size();
        else
          consumeError(name.takeError());
      }
    }
    double us = std::chrono::duration<double, std::micro>(
                    std::chrono::steady_clock::now() - t0).count();
    best = std::min(best, us);
  }
  outs() << format("%.0f", best) << " us (checksum " << checksum << ")\n";
  return 0;
}
