//===- runtime/area.h - a reserved patch area in a module -----------*- C++ -*-===//
//
// A module linked with linker-script/hotpatch-area.ld holds room for
// patches: a code part right after .text, in its read-execute segment (so
// within branch reach of the module's code), and a NOBITS read-write part
// after .bss. A note (PT_NOTE, owner "HOTPATCH", docs/patch-format.md)
// says where both are, so a stripped binary keeps it. A patch placed there
// needs no mmap in the target, and so no injected system call and no
// borrowed thread: its code and read-only data go in the code part
// (written through /proc/PID/mem, as a debugger writes breakpoints: never
// writable), its record and writable parts in the data part.
//
//   code part: [header "HPAREA01" | room for injected code] [patches...]
//   data part: [a patch's record | data | bss | slots] ... each at 4 KiB
//
// What is used is read from the records: each area record names its code
// (regionAddr, regionSize) and the size of its read-write part (from its
// recordAddr). A record of an apply that never finished (preparing) does
// not count: nothing ever led into its code, so its room is taken again.
// A reverted patch's room is kept (a thread may still run its code), and
// taken again only by the same patch (loader.cpp, as for mapped regions).
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_RUNTIME_AREA_H
#define HOTPATCH_RUNTIME_AREA_H

#include "module.h"
#include "record.h"
#include "target.h"

#include "llvm/Support/Error.h"

#include <optional>
#include <string>
#include <vector>

namespace hotpatch {

/// The 4 KiB steps of an area: parts are placed at them, records found at them.
inline constexpr uint64_t areaGranule = 4096;
/// The first page of the code part: the header, then room for injected code.
inline constexpr uint64_t areaCaveOffset = 256;

struct PatchArea {
  std::string module; ///< its path in the target
  uint64_t textAddr = 0, textEnd = 0; ///< the code part, header included
  uint64_t dataAddr = 0, dataEnd = 0; ///< the read-write part
  uint64_t caveAddr() const { return textAddr + areaCaveOffset; }
};

/// The area of module \p m (its file's note, at its load bias), checked in
/// the target's memory (the header); nullopt when it has none.
std::optional<PatchArea> findArea(const Target &target, Module &m,
                                  const std::vector<Mapping> &maps);

/// The areas of every module mapped in the target.
std::vector<PatchArea> findAreas(const Target &target, const std::vector<Mapping> &maps);

/// The data parts of \p areas, for readRecords.
std::vector<std::pair<uint64_t, uint64_t>> areaDataRanges(const std::vector<PatchArea> &areas);

/// Room in \p area for \p codeSize bytes of code and \p dataSize of the
/// rest, beside what \p records use: the first fit in each part.
struct AreaRoom {
  uint64_t codeAddr = 0, dataAddr = 0;
};
struct AreaFree {
  uint64_t code = 0, data = 0; ///< the largest free runs, in bytes
};
std::optional<AreaRoom> findRoom(const PatchArea &area,
                                 const std::vector<AppliedPatch> &records,
                                 uint64_t codeSize, uint64_t dataSize, AreaFree &free);

} // namespace hotpatch

#endif
