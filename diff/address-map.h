//===- diff/address-map.h - what an address in a linked binary names -*- C++ -*-===//
//
// A linked binary keeps, for a relocation against a section or an unnamed
// local, only the address. Inside a function or variable the address names
// that one; at the edge between two (`arr + N` is the end of arr, `next - 4`
// folded from next[i - 1]) or between named data (a string) it cannot say,
// and readAddress gives the likely reading and, where there is one, the
// other, which the differ then checks makes no difference to the patch.
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_DIFF_ADDRESS_MAP_H
#define HOTPATCH_DIFF_ADDRESS_MAP_H

#include "elf-reader.h"

#include "llvm/ADT/ArrayRef.h"

#include <vector>

namespace hotpatch {

/// A sized function or object of the binary, by address.
struct Extent {
  uint64_t start, end;
  uint32_t symbol; ///< in the binary's symbol table
  uint32_t shndx;  ///< its section
};

/// The sections of a linked binary and its sized symbols by address.
struct AddressMap {
  std::vector<ElfSection> sections;
  std::vector<Extent> extents; ///< sorted by start (sortExtents)

  void sortExtents();
  /// The sized symbol holding \p a, if any.
  const Extent *extentAt(uint64_t a) const;
  /// The sized symbol ending exactly at \p a, if any.
  const Extent *extentEndingAt(uint64_t a) const;
  /// The first sized symbol starting after \p a, if any.
  const Extent *extentAfter(uint64_t a) const;
  /// The first symbol start after \p a inside \p sec, else the end of sec.
  uint64_t nextStart(uint64_t a, const ElfSection &sec) const;
  /// The allocated, non-TLS section holding \p a, or -1.
  int sectionAt(uint64_t a) const;
};

/// The readings of one address.
struct AddressReading {
  struct Choice {
    const Extent *extent = nullptr; ///< null: unnamed data at the address
  } primary, alt;
  bool hasAlt = false;
};

/// What \p addr names, for code or data (\p inCode) that also refers to
/// the named data \p referenced.
AddressReading readAddress(const AddressMap &map, uint64_t addr,
                           llvm::ArrayRef<const Extent *> referenced,
                           bool inCode);

} // namespace hotpatch

#endif
