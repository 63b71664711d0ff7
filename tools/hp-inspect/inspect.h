//===- tools/hp-inspect/inspect.h - show and compare fingerprint tables ---===//

#ifndef HOTPATCH_TOOLS_INSPECT_H
#define HOTPATCH_TOOLS_INSPECT_H

#include "object-tables.h"

#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

namespace hotpatch {

/// Human-readable listing of every record in \p files.
void printTables(llvm::raw_ostream &os,
                 const std::vector<ObjectTables> &files);
/// The stable JSON shape of docs/hp-inspect.md.
llvm::json::Value tablesToJson(llvm::StringRef path,
                               const std::vector<ObjectTables> &files);

/// One symbol's verdict when two builds are compared.
struct SymbolChange {
  enum Status { Same, Changed, Added, Removed } status;
  bool isFunction;
  std::string name;
  std::string source; ///< TU of a file-local symbol, else empty
  std::string detail; ///< what differs, for variables ("size 4 -> 8")
};

/// Correlates the symbols of two builds by name (file-local ones by name and
/// TU, the TUs paired as hp-diff pairs them, a static the compiler
/// renumbered by hp-diff's matching) and compares their fingerprints,
/// saying why a function changed as hp-diff does. Sorted by name,
/// functions first.
/// \p optionsDiffer is set when the builds' compiler or options differ.
std::vector<SymbolChange> compareTables(const std::vector<ObjectTables> &oldFiles,
                                        const std::vector<ObjectTables> &newFiles,
                                        bool &optionsDiffer);

void printChanges(llvm::raw_ostream &os, const std::vector<SymbolChange> &changes,
                  bool optionsDiffer);
llvm::json::Value changesToJson(const std::vector<SymbolChange> &changes,
                                bool optionsDiffer);

} // namespace hotpatch

#endif
