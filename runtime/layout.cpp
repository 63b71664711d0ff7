//===- runtime/layout.cpp - where a patch's parts go ----------------------===//

#include "layout.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>

using namespace llvm;

namespace hotpatch {

uint64_t PatchLayout::offsetOf(PatchSection s) const {
  switch (s) {
  case PatchSection::Text:
    return textOff;
  case PatchSection::Plt:
    return pltOff;
  case PatchSection::Rodata:
    return rodataOff;
  case PatchSection::Data:
    return dataOff;
  case PatchSection::Bss:
    return bssOff;
  case PatchSection::Got:
    return gotOff;
  case PatchSection::Tls:
    return 0; // (not in the region: every thread's copy is ld.so's, new-tls.h)
  }
  llvm_unreachable("every patch section has a place");
}

PatchLayout planLayout(const PatchFile &patch, uint64_t recordSize, unsigned gateSize,
                       uint64_t pageSize) {
  auto size = [&](PatchSection s) -> uint64_t {
    return patch.sections[unsigned(s)].size();
  };
  auto align = [&](PatchSection s) {
    return std::max<uint64_t>(16, patch.align[unsigned(s)]);
  };
  PatchLayout l;
  l.textOff = 0;
  l.pltOff = alignTo(size(PatchSection::Text), 16);
  l.gatesOff = alignTo(l.pltOff + size(PatchSection::Plt), 16);
  l.rxSize = alignTo(l.gatesOff + patch.functions.size() * gateSize, pageSize);
  l.rodataOff = l.rxSize;
  l.roSize = alignTo(size(PatchSection::Rodata), pageSize);
  l.recordOff = l.rodataOff + l.roSize;
  l.dataOff = alignTo(l.recordOff + recordSize, align(PatchSection::Data));
  l.bssOff = alignTo(l.dataOff + size(PatchSection::Data), align(PatchSection::Bss));
  l.gotOff = alignTo(l.bssOff + patch.bssSize, 8);
  // An FDE takes at least 16 bytes of the tables: at most tables/16 entries.
  if (uint64_t tables = unwindTableBytes(patch))
    l.dynInfoSize = dynInfoHeaderSize + tables / 2;
  l.dynInfoOff = alignTo(l.gotOff + size(PatchSection::Got), 16);
  uint64_t rwEnd = l.dynInfoOff + l.dynInfoSize;
  l.rwSize = alignTo(rwEnd - l.recordOff, pageSize);
  l.total = l.rxSize + l.roSize + l.rwSize;
  return l;
}

std::optional<uint64_t> placeNear(const std::vector<Mapping> &maps, uint64_t lo,
                                  uint64_t hi, uint64_t size, uint64_t pageSize,
                                  uint64_t addressEnd, uint64_t reach,
                                  uint64_t atLeast) {
  std::vector<std::pair<uint64_t, uint64_t>> used;
  for (const Mapping &m : maps)
    if (m.start < addressEnd)
      used.push_back({m.start, std::min(m.end, addressEnd)});
  llvm::sort(used);
  std::optional<uint64_t> best;
  uint64_t bestDistance = ~0ull;
  // Distance from [lo, hi) to the farthest byte of [c, c + size).
  auto distance = [&](uint64_t c) -> uint64_t {
    if (c + size <= lo)
      return hi - c;
    if (c >= hi)
      return c + size - lo;
    return std::max(hi, c + size) - std::min(lo, c);
  };
  auto consider = [&](uint64_t gapLo, uint64_t gapHi) {
    if (gapHi <= gapLo || gapHi - gapLo < size + 2 * pageSize)
      return;
    // A free page on both sides; the highest and the lowest address (and
    // the nearest ones at least atLeast away, when asked).
    uint64_t candidates[] = {(gapHi - pageSize - size) & ~(pageSize - 1),
                             alignTo(gapLo + pageSize, pageSize),
                             alignTo(hi + atLeast, pageSize),
                             (lo - atLeast - size) & ~(pageSize - 1)};
    for (uint64_t c : ArrayRef(candidates).take_front(atLeast ? 4 : 2)) {
      if (c < gapLo + pageSize || c + size > gapHi - pageSize || c + size < c)
        continue;
      uint64_t d = distance(c);
      uint64_t nearest = c + size <= lo ? lo - (c + size) : c >= hi ? c - hi : 0;
      if (d < bestDistance && d < reach && nearest >= atLeast) {
        bestDistance = d;
        best = c;
      }
    }
  };
  uint64_t prevEnd = 16 * pageSize; // (never near address 0)
  for (auto [start, end] : used) {
    consider(prevEnd, start);
    prevEnd = std::max(prevEnd, end);
  }
  consider(prevEnd, addressEnd);
  return best;
}

} // namespace hotpatch
