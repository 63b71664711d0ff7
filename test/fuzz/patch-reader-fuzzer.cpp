//===- test/fuzz/patch-reader-fuzzer.cpp - fuzz the .hp and table readers ---===//
//
// The readers take files from outside (a patch copied between hosts, an
// object from a build tree): whatever the bytes, they must return an error,
// never crash, hang or read out of bounds. The first input byte picks the
// reader; for patches, odd values skip the checksum so mutations reach the
// structure checks behind it.
//
//===----------------------------------------------------------------------===//

#include "fingerprint-table.h"
#include "patch-file.h"

using namespace llvm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  ArrayRef<uint8_t> bytes(data + 1, size - 1);
  switch (data[0] % 3) {
  case 0:
  case 1: {
    Expected<hotpatch::PatchFile> patch =
        hotpatch::readPatch(bytes, "fuzz", /*verifyChecksum=*/data[0] % 3 == 0);
    if (!patch)
      consumeError(patch.takeError());
    break;
  }
  case 2: {
    auto records = hotpatch::decodeRecords(bytes, "fuzz");
    if (!records)
      consumeError(records.takeError());
    break;
  }
  }
  return 0;
}
