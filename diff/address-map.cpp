//===- diff/address-map.cpp - what an address in a linked binary names ---===//

#include "address-map.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/BinaryFormat/ELF.h"

#include <tuple>

using namespace llvm;

namespace hotpatch {

void AddressMap::sortExtents() {
  llvm::sort(extents, [](const Extent &a, const Extent &b) {
    return std::tie(a.start, a.end) < std::tie(b.start, b.end);
  });
}

const Extent *AddressMap::extentAt(uint64_t a) const {
  auto it = llvm::upper_bound(extents, a, [](uint64_t v, const Extent &e) {
    return v < e.start;
  });
  // Aliases and overlaps are few: look at the last starts before a.
  for (int k = 0; k < 8 && it != extents.begin(); ++k) {
    --it;
    if (a >= it->start && a < it->end)
      return &*it;
  }
  return nullptr;
}

const Extent *AddressMap::extentEndingAt(uint64_t a) const {
  auto it = llvm::lower_bound(extents, a, [](const Extent &e, uint64_t v) {
    return e.start < v;
  });
  for (int k = 0; k < 8 && it != extents.begin(); ++k) {
    --it;
    if (it->end == a)
      return &*it;
  }
  return nullptr;
}

const Extent *AddressMap::extentAfter(uint64_t a) const {
  auto it = llvm::upper_bound(extents, a, [](uint64_t v, const Extent &e) {
    return v < e.start;
  });
  return it != extents.end() ? &*it : nullptr;
}

uint64_t AddressMap::nextStart(uint64_t a, const ElfSection &sec) const {
  const Extent *next = extentAfter(a);
  uint64_t end = sec.addr + sec.size;
  return next && next->start < end ? next->start : end;
}

int AddressMap::sectionAt(uint64_t a) const {
  for (size_t i = 0; i < sections.size(); ++i) {
    const ElfSection &s = sections[i];
    if ((s.flags & ELF::SHF_ALLOC) && !(s.flags & ELF::SHF_TLS) &&
        a >= s.addr && a < s.addr + s.size)
      return int(i);
  }
  return -1;
}

AddressReading readAddress(const AddressMap &map, uint64_t addr,
                           ArrayRef<const Extent *> referenced, bool inCode) {
  AddressReading r;
  const Extent *in = map.extentAt(addr);
  if (in && (map.sections[in->shndx].flags & ELF::SHF_EXECINSTR)) {
    r.primary.extent = in; // code: a function, a jump into its body
    return r;
  }
  int sec = map.sectionAt(addr);
  const Extent *ending = map.extentEndingAt(addr);
  const Extent *next = map.extentAfter(addr);
  if (next && (next->start - addr > 64 || sec < 0 ||
               map.sectionAt(next->start) != sec))
    next = nullptr;
  bool writable = sec >= 0 && (map.sections[sec].flags & ELF::SHF_WRITE);
  auto referencedHere = [&](const Extent *e) {
    return e && llvm::is_contained(referenced, e);
  };
  if (in) {
    r.primary.extent = in;
    // The end of the variable before, if this code uses that one too (a
    // loop over it): both readings are likely.
    if (referencedHere(ending)) {
      r.alt.extent = ending;
      r.hasAlt = true;
    }
    return r;
  }
  if (writable) {
    // Nothing unnamed is writable: the end of the variable before, or
    // just before the one after.
    r.primary.extent = ending ? ending : next;
    if (ending && next) {
      r.alt.extent = next;
      r.hasAlt = true;
    }
    return r;
  }
  // Read-only, between named data: unnamed data (a string, a constant),
  // unless this code uses the variable that ends here (then: its end) or
  // the one that starts just after (then: an index folded below it).
  if (referencedHere(ending))
    r.primary.extent = ending;
  else if (inCode && referencedHere(next))
    r.primary.extent = next; // code folds a constant index; tables do not
  return r;
}

} // namespace hotpatch
