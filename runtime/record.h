//===- runtime/record.h - what an applied patch leaves in the target -*- C++ -*-===//
//
// Every applied patch keeps a record at the start of its writable mapping,
// so that any later hp-apply lists it, stacks on it and reverts it, even
// when the hp-apply that applied it died. All little-endian:
//
//   header, 192 bytes                     entry, 64 bytes, one a function
//     0  magic "HPREC001"                   0  entry address
//     8  id (u32)  12 functions (u32)       8  new code address
//    16  state (1 preparing, 2 active,     16  patch-site offset (u8)
//        3 reverted)                       17  saved byte count (u8, <= 32)
//    24  region address  32 region size    24  the bytes the patch replaced,
//    40  applied at (ns, CLOCK_REALTIME)       padding through entry NOP
//    48  patch file name (64, NUL-padded)  56  name: offset in the record
//   112  build-id (48, hex, NUL-padded)
//   160  module base
//   168  commit byte: the gates run the new code when non-zero
//   169  placement (u8): 0 mapped by hp-apply, 1 in a reserved patch area
//   170  in a reserved area: the size of the read-write part, in 4 KiB
//        units (u16); its code and read-only data are the region
//   172  unwind tables: their offset in the region (u32; 0: none)
//   176  gates: offset in the region (0: a patch made before gates)
//   184  e_machine (u16; 0: made before it was recorded: the host's)
//   186  unwind tables (u8): 0 none registered, 1 being registered,
//        2 registered with the target's unwinder
//   188  the patch: the low 32 bits of its checksum (0: not recorded)
//   then the names, NUL-terminated.
//
// The state, the commit byte and the unwind byte are the only fields
// written after the record is placed (RecordLayout::stateOffset,
// ::commitOffset, ::unwindOffset).
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_RUNTIME_RECORD_H
#define HOTPATCH_RUNTIME_RECORD_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hotpatch {

class Target;
struct Mapping;

/// Sizes and the offsets written after placing (see the table above).
struct RecordLayout {
  static constexpr uint32_t headerSize = 192, entrySize = 64;
  static constexpr uint32_t stateOffset = 16, commitOffset = 168, unwindOffset = 186;
  /// Bytes saved per function: the padding and the entry NOP (and a
  /// landing pad before it) of any machine fit.
  static constexpr unsigned maxSaved = 32;
  /// More functions than any patch replaces: a record claiming more is not
  /// one.
  static constexpr uint32_t maxFunctions = 1 << 16;
};

enum class RecordState : uint64_t { Preparing = 1, Active = 2, Reverted = 3 };

/// Whether the target's unwinder knows the patch's unwind tables. From
/// `Registering` on, it may: the region is never unmapped again.
enum class UnwindState : uint8_t { None = 0, Registering = 1, Registered = 2 };

struct RecordedFunction {
  std::string name;
  uint64_t entryAddr = 0, newAddr = 0;
  unsigned site = 0;          ///< the patch site, from the entry
  std::vector<uint8_t> saved; ///< what was there before: padding .. entry NOP
};

/// One applied patch, as its record says.
struct AppliedPatch {
  uint32_t id = 0;
  RecordState state = RecordState::Preparing;
  std::string name;
  std::string buildId;
  /// Its gates send calls to its code (set by the commit store). Active
  /// and not committed: hp-apply died mid-apply; the old code runs.
  bool committed = false;
  uint64_t gatesOffset = 0; ///< in its region; 0: made before gates
  uint16_t eMachine = 0;    ///< 0: not recorded (the host's)
  uint32_t patchDigest = 0; ///< which patch (0: not recorded)
  UnwindState unwind = UnwindState::None;
  uint32_t unwindTablesOffset = 0; ///< in the region; 0: it has none
  uint64_t recordAddr = 0, regionAddr = 0, regionSize = 0;
  uint64_t moduleBase = 0;
  uint64_t appliedAtNs = 0; ///< CLOCK_REALTIME
  /// In a reserved patch area (runtime/area.h): the region (regionAddr,
  /// regionSize) is its code and read-only data, and the record starts its
  /// read-write part of rwSize bytes elsewhere in the area.
  bool inArea = false;
  uint64_t rwSize = 0;
  std::vector<RecordedFunction> functions;

  bool active() const { return state == RecordState::Active; }
};

/// The bytes of the record for \p p (its functions' names included),
/// padded to a multiple of 64; recordAddr is not stored.
std::vector<uint8_t> encodeRecord(const AppliedPatch &p);
/// How many bytes encodeRecord(p) gives.
uint64_t encodedRecordSize(const AppliedPatch &p);

/// The header in \p head (RecordLayout::headerSize bytes): nullopt unless
/// it holds a record of a finished apply (active or reverted). \p count
/// receives the number of entries that follow.
std::optional<AppliedPatch> decodeRecordHeader(llvm::ArrayRef<uint8_t> head,
                                               uint32_t &count);
/// One entry (RecordLayout::entrySize bytes), its name left out:
/// \p nameOffset receives where in the record the name starts.
llvm::Expected<RecordedFunction> decodeRecordEntry(llvm::ArrayRef<uint8_t> entry,
                                                   uint32_t &nameOffset);
/// A whole record held in \p bytes.
llvm::Expected<AppliedPatch> decodeRecord(llvm::ArrayRef<uint8_t> bytes);

/// Every record in the process, oldest first: anonymous writable mappings
/// that start with one, and every 4 KiB step of \p areaData (the data parts
/// of reserved patch areas, runtime/area.h). A process patched many times
/// holds many: the reads are batched (headers, then entries, then names).
llvm::Expected<std::vector<AppliedPatch>>
readRecords(const Target &target, const std::vector<Mapping> &maps,
            llvm::ArrayRef<std::pair<uint64_t, uint64_t>> areaData = {});

} // namespace hotpatch

#endif
