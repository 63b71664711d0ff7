//===- format/fingerprint-table.h - the .hotpatch.fp section ------*- C++ -*-===//
//
// The fingerprint table is what a build with hotpatch.so leaves behind for
// hp-diff: one record per translation unit, in a non-allocated ELF section
// that linkers keep and concatenate. docs/fingerprint-format.md is the
// normative description; this header is its one implementation, shared by the
// pass that writes records and the tools that read them.
//
// Every integer is little-endian whatever the target. Records start with a
// magic and carry their own size, so a reader walks the concatenation a linker
// made of many objects' sections; zero bytes between records (alignment
// padding a linker may insert) are skipped.
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_FORMAT_FINGERPRINT_TABLE_H
#define HOTPATCH_FORMAT_FINGERPRINT_TABLE_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace hotpatch {

/// The section every record lives in, in objects and in linked binaries.
inline constexpr llvm::StringLiteral fingerprintSectionName = ".hotpatch.fp";
inline constexpr llvm::StringLiteral fingerprintMagic = "HPFP";
/// The layout version this code writes. It also reads version 1, whose
/// function entries lack the source hashes and call lists (left zero/empty).
inline constexpr uint16_t fingerprintVersion = 2;

inline constexpr uint32_t recordHeaderSize = 64;
inline constexpr uint32_t functionEntrySize = 56;
inline constexpr uint32_t functionEntrySizeV1 = 40;
inline constexpr uint32_t variableEntrySize = 64;

/// Flags of a function entry (bit values are part of the format).
enum FunctionFlags : uint32_t {
  FnLocal = 1u << 0,      ///< STB_LOCAL: `static` in C, anonymous namespace
  FnWeak = 1u << 1,       ///< weak or linkonce (C++ inline, templates)
  FnComdat = 1u << 2,     ///< lives in the COMDAT group named by `comdat`
  FnPatchable = 1u << 3,  ///< has the patchable prologue
  FnOptedOut = 1u << 4,   ///< no prologue on purpose; `reason` says why
  FnEndlessLoop = 1u << 5, ///< holds a loop that never returns (a main or
                           ///< worker loop): a running frame keeps old code
  FnLandingPads = 1u << 6, ///< has exception landing pads (try/catch or
                           ///< cleanups): needs its unwind tables
};

/// Flags of a variable entry (bit values are part of the format).
enum VariableFlags : uint32_t {
  VarLocal = 1u << 0,
  VarWeak = 1u << 1,
  VarComdat = 1u << 2,
  VarConstant = 1u << 3,  ///< read-only: the compiler may rely on its value
  VarTLS = 1u << 4,       ///< thread-local storage
  VarZeroInit = 1u << 5,  ///< initializer is all zero bytes (.bss)
  VarCommon = 1u << 6,    ///< a tentative definition (-fcommon)
};

/// A 128-bit content hash. Equal fingerprints mean equal machine code for all
/// practical purposes; docs/fingerprint-format.md lists what goes in.
struct Fingerprint {
  uint64_t lo = 0, hi = 0;
  bool operator==(const Fingerprint &o) const { return lo == o.lo && hi == o.hi; }
  bool operator!=(const Fingerprint &o) const { return !(*this == o); }
  /// 32 lower-case hex digits, high half first.
  std::string hex() const;
};

struct FunctionEntry {
  std::string name;   ///< exactly as in the ELF symbol table
  uint32_t flags = 0; ///< FunctionFlags
  Fingerprint fingerprint;
  std::string comdat; ///< COMDAT group signature, empty if none
  std::string reason; ///< why there is no prologue, empty if there is one
  /// The function as written: its IR before any optimisation, with source
  /// positions masked and named globals by name only. 0 when unknown (a
  /// version 1 table, or a function the optimiser made).
  uint64_t sourceHash = 0;
  /// The final IR with source positions (`__LINE__` on the line it stands
  /// on) masked: equal to the fingerprint's change-wise, except that a
  /// function whose code differs only in line numbers keeps it. 0 when
  /// unknown.
  uint64_t positionFreeHash = 0;
  /// Functions of this TU it called as written (before inlining), sorted.
  std::vector<std::string> callees;
  /// Functions of this TU its final code still calls directly, sorted.
  std::vector<std::string> calls;
};

struct VariableEntry {
  std::string name;   ///< exactly as in the ELF symbol table
  uint32_t flags = 0; ///< VariableFlags
  uint64_t sizeBytes = 0;
  uint64_t alignBytes = 0;
  Fingerprint fingerprint; ///< type, size, flags and initializer together
  uint64_t typeHash = 0;   ///< the type's shape alone (names ignored)
  uint64_t initHash = 0;   ///< the initializer alone; 0 if none
  std::string comdat;
};

/// One translation unit's table.
struct TableRecord {
  uint16_t version = fingerprintVersion;
  uint16_t eMachine = 0;      ///< ELF e_machine of the code described
  uint8_t padBeforeBytes = 0; ///< patchable bytes before each entry symbol
  uint8_t entryNopBytes = 0;  ///< bytes of the NOP at (or after the landing
                              ///< pad at) the entry
  std::string sourceFile;     ///< the TU's main file, as the compiler saw it
  std::string producer;       ///< compiler identification
  std::string options;        ///< codegen-relevant options, `key=value;...`
  uint64_t optionsHash = 0;   ///< hash of producer and options
  std::vector<FunctionEntry> functions; ///< sorted by name
  std::vector<VariableEntry> variables; ///< sorted by name
  /// Functions as written that the optimiser removed (inlined everywhere,
  /// unused): no code, but their source hash and callees explain the
  /// functions they were inlined into. Sorted by name.
  std::vector<FunctionEntry> removedFunctions;
};

/// Serialises \p record; entries are written in the order given (the writer
/// sorts them so identical inputs give identical bytes).
std::string encodeRecord(const TableRecord &record);

/// Parses every record in \p section. \p where names the section's owner in
/// errors ("foo.o", "libx.a(foo.o)"). Fails on a bad magic, a version other
/// than 1 or 2, or any size or offset outside the data.
llvm::Expected<std::vector<TableRecord>>
decodeRecords(llvm::ArrayRef<uint8_t> section, llvm::StringRef where);

/// A 64-bit hash of a byte string, the one every part of the format uses.
uint64_t hash64(llvm::StringRef bytes);
/// The 128-bit hash used for fingerprints.
Fingerprint hash128(llvm::ArrayRef<uint8_t> bytes);

/// The usual name of \p eMachine ("x86_64", "aarch64"), or "EM_<n>".
std::string machineName(uint16_t eMachine);

} // namespace hotpatch

#endif
