//===- runtime/patch-frames.h - applied patches as files unwinders read -*- C++ -*-===//
//
// Unwinders outside the target (libdwfl in hp-apply's stack check, gdb)
// find call-frame information in the files of mapped modules; a patch's
// region is none. So an applied patch's unwind tables, read back from the
// target, are written into a small ELF file of their own: a shared object
// "loaded" at the region's address, with the region's .eh_frame at its
// place and a symbol for each new function. libdwfl is told about it as a
// module; gdb loads it with `add-symbol-file FILE -o REGION`.
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_RUNTIME_PATCH_FRAMES_H
#define HOTPATCH_RUNTIME_PATCH_FRAMES_H

#include "record.h"
#include "target.h"

#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace hotpatch {

/// One applied patch's unwind tables, as the target holds them.
struct PatchFrames {
  uint32_t id = 0;
  uint16_t machine = 0;
  uint64_t regionAddr = 0, regionSize = 0;
  uint64_t tablesOffset = 0;             ///< in the region
  std::vector<uint8_t> tables;           ///< its .eh_frame, terminator included
  std::vector<RecordedFunction> functions; ///< names and new code addresses
};

/// The tables of every patch in \p records that has them (active or
/// reverted: a reverted patch's code may still run), read from \p target.
/// A record whose tables cannot be read is left out.
std::vector<PatchFrames> readPatchFrames(const Target &target,
                                         const std::vector<AppliedPatch> &records);

/// \p frames as an ELF file (ET_DYN at address 0: load it at the region's
/// address), in memory: the returned descriptor (a memfd) is the caller's.
llvm::Expected<int> patchFramesFile(const PatchFrames &frames);

} // namespace hotpatch

#endif
