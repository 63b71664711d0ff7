//===- format/patch-file.h - the .hp live patch ------------------*- C++ -*-===//
//
// A patch is an ELF relocatable object (ET_REL) of the target's machine, so
// readelf and llvm-objdump show it, with hotpatch's own non-allocated
// sections saying what to do with it. docs/patch-format.md is the normative
// description; this is its one reader and writer, built on libelf.
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_FORMAT_PATCH_FILE_H
#define HOTPATCH_FORMAT_PATCH_FILE_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hotpatch {

inline constexpr uint32_t patchFormatVersion = 1;
inline constexpr llvm::StringLiteral patchMagic = "HOTPATCH";
inline constexpr uint64_t unresolvedOffset = ~uint64_t(0);

/// The patch's unwind tables (.eh_frame entries ended by a zero word, in
/// .hp.rodata), when its code has any, and the zeroed room in .hp.bss the
/// target's unwinder keeps its bookkeeping of them in.
inline constexpr llvm::StringLiteral ehFrameSymbol = "__hp_eh_frame";
inline constexpr llvm::StringLiteral unwindObjectSymbol = "__hp_unwind_object";
inline constexpr uint64_t unwindObjectSize = 64;

/// The loadable sections, in file order. Their names are part of the format.
/// Where a patch's bytes go. Tls is not part of the region: it is the
/// initial image of the thread-local variables the patch adds (every
/// thread gets its own copy of it, docs/patch-format.md).
enum class PatchSection : uint8_t { Text, Plt, Rodata, Data, Bss, Got, Tls };
inline constexpr unsigned numPatchSections = 7;
llvm::StringRef patchSectionName(PatchSection s);

struct PatchReloc {
  uint64_t offset;  ///< within its section
  uint32_t type;    ///< the machine's R_* number
  uint32_t symbol;  ///< index into PatchFile::symbols
  int64_t addend;
};

/// A symbol of the patch: defined in one of its sections, or a reference to
/// something outside it (an original symbol of the target module, or a
/// function or variable of another library), resolved at apply time.
struct PatchSymbol {
  std::string name;
  bool defined = false;
  PatchSection section = PatchSection::Text; ///< when defined
  uint64_t value = 0;                        ///< offset in the section
  uint64_t size = 0;
  bool isFunction = false;
  bool isSection = false; ///< anonymous data copied whole (string literals...)
  // When not defined: how hp-apply finds it.
  std::string refName;   ///< the symbol's name in the target
  std::string refSource; ///< for a file-local symbol: its TU's file name
  bool refInModule = true; ///< false: look in every loaded library
  uint64_t refOffset = unresolvedOffset; ///< module offset (with --target)
};

/// One replaced function: calls to the old entry go to `newSymbol`.
struct FunctionMapEntry {
  std::string oldName;   ///< as in the target's symbol table
  std::string oldSource; ///< TU file name for a file-local function
  uint32_t newSymbol;    ///< index into PatchFile::symbols
  uint64_t oldOffset = unresolvedOffset; ///< module offset (with --target)
  uint32_t oldSize = 0, newSize = 0;
  uint8_t siteOffset = 0; ///< patch site: entry + this (CET/BTI pads: 4)
  std::vector<uint8_t> expected; ///< padding and entry bytes, as built
  bool endlessLoop = false; ///< a running frame of it never sees the patch
  std::string why; ///< for people: why it is in the patch (may be empty)
};

struct PatchFile {
  /// Set by readPatch: the file's checksum, which tells one patch from
  /// another (hp-apply records it, to know a process already runs it).
  uint64_t checksum = 0;
  uint16_t eMachine = 0;
  std::string buildId;    ///< hex; empty when the target was not given
  std::string targetName; ///< informational: the module's file name
  bool targetIsExec = false; ///< offsets are addresses (ET_EXEC, no base)
  std::string producer;
  std::vector<std::string> acceptedRisks;
  std::vector<uint8_t> sections[numPatchSections]; ///< Bss: size only
  uint64_t bssSize = 0;
  uint64_t align[numPatchSections] = {16, 16, 16, 16, 16, 8, 1};
  std::vector<PatchReloc> relocs[numPatchSections];
  std::vector<PatchSymbol> symbols;
  std::vector<FunctionMapEntry> functions;
};

/// Whether \p s is one of the two symbols above.
inline bool isUnwindTableSymbol(const PatchSymbol &s) {
  return s.defined && (s.name == ehFrameSymbol || s.name == unwindObjectSymbol);
}
/// The size of the patch's unwind tables (0: it has none).
inline uint64_t unwindTableBytes(const PatchFile &p) {
  for (const PatchSymbol &s : p.symbols)
    if (s.defined && s.name == ehFrameSymbol)
      return s.size;
  return 0;
}

/// The size of `.hp.sig`, the room a signature takes (patch-signature.h).
inline constexpr uint64_t signatureSectionSize = 128;

/// Serialises \p patch; identical patches give identical bytes. With
/// \p signatureRoom, a zeroed `.hp.sig` for SigningKey::sign to fill.
llvm::Expected<std::vector<uint8_t>> writePatch(const PatchFile &patch,
                                                bool signatureRoom = false);

/// Where `.hp.sig`'s contents lie in \p bytes (file offset, size); none
/// when the patch has no such section or \p bytes are not ELF.
std::optional<std::pair<uint64_t, uint64_t>>
signatureRange(llvm::ArrayRef<uint8_t> bytes);

/// Parses and checks a patch: ELF structure, magic, version, checksum and
/// every index. \p where names the input in errors. Only the fuzzer turns
/// \p verifyChecksum off, to reach the checks behind it.
llvm::Expected<PatchFile> readPatch(llvm::ArrayRef<uint8_t> bytes,
                                    llvm::StringRef where,
                                    bool verifyChecksum = true);

/// True when \p bytes look like a patch (an ELF file with .hp.meta), so
/// tools can tell patches from ordinary objects before parsing.
bool isPatchFile(llvm::ArrayRef<uint8_t> bytes);

} // namespace hotpatch

#endif
