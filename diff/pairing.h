//===- diff/pairing.h - which translation units of two builds pair -*- C++ -*-===//
//
// The one rule that says which TU of the old build a TU of the new build is,
// for object trees (--old-dir/--new-dir), linked binaries and hp-inspect
// --compare alike: the same key first (the object's path under its tree, or
// the source path its fingerprint record names), then, among the TUs left
// over on both sides, the same file name where that name is left over once
// on each side (a source moved to another directory). A TU left in the new
// build is new; one left in the old build was deleted.
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_DIFF_PAIRING_H
#define HOTPATCH_DIFF_PAIRING_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/Error.h"

#include <optional>
#include <string>
#include <vector>

namespace hotpatch {

struct UnitPair {
  std::optional<size_t> before, after; ///< indices into the two key lists
};

/// Pairs \p oldKeys with \p newKeys by the rule above: every new TU in
/// order, then the old ones left over, in order. Equal keys on one side
/// pair in order. With \p lonePair, two builds of one TU each pair
/// whatever their names (two versions of one file: `old/x.c`, `x-fix.c`).
std::vector<UnitPair> pairUnits(llvm::ArrayRef<std::string> oldKeys,
                                llvm::ArrayRef<std::string> newKeys,
                                bool lonePair = false);

/// Pairs the objects (.o) of two build trees (paths relative to each root
/// are the keys). An object only in the new tree has an empty old path; one
/// only in the old tree, an empty new path. Fails when a directory is
/// missing or the new one holds no object.
llvm::Expected<std::vector<std::pair<std::string, std::string>>>
pairDirectories(llvm::StringRef oldDir, llvm::StringRef newDir);

} // namespace hotpatch

#endif
