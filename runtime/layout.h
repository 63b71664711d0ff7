//===- runtime/layout.h - where a patch's parts go -----------------*- C++ -*-===//
//
// Pure functions of their arguments (unit-tested without a process): the
// layout of a patch's region, and the address to put it at.
//
//   [code | stubs | gates]  read-execute
//   [read-only data]        read-only
//   [record | data | bss | slots | libunwind's entry]  read-write
//
// Each part starts on a page (the system's: 4 KiB, 16 KiB or 64 KiB), so
// each is mapped once with its final protection. In a reserved patch area
// (area.h) the read-write part lies elsewhere (rwDelta) and pages are the
// area's 4 KiB steps: nothing there is mapped.
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_RUNTIME_LAYOUT_H
#define HOTPATCH_RUNTIME_LAYOUT_H

#include "patch-file.h"
#include "target.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace hotpatch {

/// libunwind's unw_dyn_info_t (88 bytes), rounded up.
inline constexpr uint64_t dynInfoHeaderSize = 96;

struct PatchLayout {
  uint64_t textOff = 0, pltOff = 0, gatesOff = 0, rxSize = 0;
  uint64_t rodataOff = 0, roSize = 0;
  uint64_t recordOff = 0, dataOff = 0, bssOff = 0, gotOff = 0, rwSize = 0;
  /// Room for registering the unwind tables with libunwind (nongnu): its
  /// unw_dyn_info_t and a search table, 8 bytes an FDE (unwind-tables.h).
  uint64_t dynInfoOff = 0, dynInfoSize = 0;
  uint64_t total = 0;
  /// How much farther than recordOff the read-write part is placed from
  /// the region's start (0 but in a reserved area; wraps when it is lower).
  uint64_t rwDelta = 0;

  /// Where section \p s starts in the region.
  uint64_t offsetOf(PatchSection s) const;
  /// The address of offset \p off of a region placed at \p addr.
  uint64_t addressOf(uint64_t addr, uint64_t off) const {
    return addr + off + (off >= recordOff ? rwDelta : 0);
  }
};

/// The layout of \p patch with \p recordSize bytes of record and one gate
/// of \p gateSize bytes per function.
PatchLayout planLayout(const PatchFile &patch, uint64_t recordSize, unsigned gateSize,
                       uint64_t pageSize);

/// An address for \p size bytes in a gap of \p maps (with a free page on
/// both sides), as close to [lo, hi) as possible and within \p reach of
/// it, so that every PC-relative reference of the patch reaches the module;
/// nothing at or above \p addressEnd. Nullopt when no gap is near enough.
/// With \p atLeast, no byte of the range is nearer than that to [lo, hi)
/// (a test hook places patches out of a branch's reach with it).
std::optional<uint64_t> placeNear(const std::vector<Mapping> &maps, uint64_t lo,
                                  uint64_t hi, uint64_t size, uint64_t pageSize,
                                  uint64_t addressEnd, uint64_t reach = 1ull << 30,
                                  uint64_t atLeast = 0);

} // namespace hotpatch

#endif
