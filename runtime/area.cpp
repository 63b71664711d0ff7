//===- runtime/area.cpp - a reserved patch area in a module ---------------===//

#include "area.h"

#include "module.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Object/ELF.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/MemoryBuffer.h"

#include <algorithm>
#include <cstring>

using namespace llvm;
using namespace llvm::object;

namespace hotpatch {
namespace {
constexpr uint32_t noteType = 0x48500001;
constexpr char headerMagic[8] = {'H', 'P', 'A', 'R', 'E', 'A', '0', '1'};

/// The note's four fields as link-time addresses: each holds an address
/// minus its own.
struct AreaNote {
  uint64_t textStart, textEnd, dataStart, dataEnd;
};

std::optional<AreaNote> readNote(const ELFFile<ELF64LE> &file) {
  Expected<ELF64LE::PhdrRange> phdrs = file.program_headers();
  if (!phdrs) {
    consumeError(phdrs.takeError());
    return std::nullopt;
  }
  for (const auto &ph : *phdrs) {
    if (ph.p_type != ELF::PT_NOTE)
      continue;
    Error err = Error::success();
    for (const auto &note : file.notes(ph, err)) {
      ArrayRef<uint8_t> desc = note.getDesc(ph.p_align);
      if (note.getName() != "HOTPATCH" || note.getType() != noteType || desc.size() < 32)
        continue;
      // Where the descriptor lies in memory: its offset in the file, in
      // this segment, from the segment's address.
      uint64_t descOff = desc.data() - file.base();
      uint64_t descAddr = ph.p_vaddr + (descOff - ph.p_offset);
      uint64_t f[4];
      for (unsigned i = 0; i < 4; ++i)
        f[i] = descAddr + 8 * i + support::endian::read64le(desc.data() + 8 * i);
      consumeError(std::move(err));
      return AreaNote{f[0], f[1], f[2], f[3]};
    }
    consumeError(std::move(err));
  }
  return std::nullopt;
}

std::optional<PatchArea> areaOfFile(const Target &target, StringRef path,
                                    StringRef mapFile, const std::vector<Mapping> &maps) {
  ErrorOr<std::unique_ptr<MemoryBuffer>> buf =
      MemoryBuffer::getFile(mapFile, /*IsText=*/false, /*RequiresNullTerminator=*/false);
  if (!buf)
    return std::nullopt;
  Expected<ELFFile<ELF64LE>> file = ELFFile<ELF64LE>::create((*buf)->getBuffer());
  if (!file) {
    consumeError(file.takeError());
    return std::nullopt;
  }
  std::optional<AreaNote> note = readNote(*file);
  if (!note)
    return std::nullopt;
  uint64_t bias = loadBias(*file, path, maps);
  PatchArea a;
  a.module = path.str();
  a.textAddr = note->textStart + bias;
  a.textEnd = note->textEnd + bias;
  a.dataAddr = note->dataStart + bias;
  a.dataEnd = note->dataEnd + bias;
  // A note that does not describe a usable area (sizes not in 4 KiB steps,
  // a code part without room past its first page) is no area.
  auto aligned = [](uint64_t x) { return x % areaGranule == 0; };
  if (!aligned(a.textAddr) || !aligned(a.textEnd) || !aligned(a.dataAddr) ||
      !aligned(a.dataEnd) || a.textEnd <= a.textAddr + areaGranule ||
      a.dataEnd <= a.dataAddr)
    return std::nullopt;
  // The header, in memory: the file is the one mapped, and mapped whole.
  uint8_t head[sizeof headerMagic];
  if (Error err = target.read(a.textAddr, head)) {
    consumeError(std::move(err));
    return std::nullopt;
  }
  if (memcmp(head, headerMagic, sizeof head))
    return std::nullopt;
  uint8_t last[8];
  if (Error err = target.read(a.dataEnd - sizeof last, last)) {
    consumeError(std::move(err));
    return std::nullopt;
  }
  return a;
}

/// The first run of \p size bytes in [lo, hi) that misses every range of
/// \p used (sorted), at areaGranule steps; \p largest gets the longest free run.
std::optional<uint64_t> firstFit(std::vector<std::pair<uint64_t, uint64_t>> used,
                                 uint64_t lo, uint64_t hi, uint64_t size,
                                 uint64_t &largest) {
  llvm::sort(used);
  std::optional<uint64_t> fit;
  largest = 0;
  uint64_t at = lo;
  auto gap = [&](uint64_t end) {
    end = std::min(end, hi);
    if (end <= at)
      return;
    largest = std::max(largest, end - at);
    if (!fit && end - at >= size)
      fit = at;
  };
  for (auto [s, e] : used) {
    gap(s);
    at = std::max(at, alignTo(e, areaGranule));
  }
  gap(hi);
  return fit;
}
} // namespace

std::optional<PatchArea> findArea(const Target &target, Module &m,
                                  const std::vector<Mapping> &maps) {
  return areaOfFile(target, m.path, m.mapFile, maps);
}

std::vector<PatchArea> findAreas(const Target &target, const std::vector<Mapping> &maps) {
  std::vector<PatchArea> out;
  for (Module &m : groupModules(target, maps))
    if (std::optional<PatchArea> a = findArea(target, m, maps))
      out.push_back(std::move(*a));
  return out;
}

std::vector<std::pair<uint64_t, uint64_t>>
areaDataRanges(const std::vector<PatchArea> &areas) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (const PatchArea &a : areas)
    out.push_back({a.dataAddr, a.dataEnd});
  return out;
}

std::optional<AreaRoom> findRoom(const PatchArea &area,
                                 const std::vector<AppliedPatch> &records,
                                 uint64_t codeSize, uint64_t dataSize, AreaFree &free) {
  std::vector<std::pair<uint64_t, uint64_t>> code, data;
  for (const AppliedPatch &r : records) {
    if (!r.inArea)
      continue;
    if (r.regionAddr >= area.textAddr && r.regionAddr < area.textEnd)
      code.push_back({r.regionAddr, r.regionAddr + r.regionSize});
    if (r.recordAddr >= area.dataAddr && r.recordAddr < area.dataEnd)
      data.push_back({r.recordAddr, r.recordAddr + std::max(r.rwSize, areaGranule)});
  }
  std::optional<uint64_t> c = firstFit(code, area.textAddr + areaGranule, area.textEnd,
                                       codeSize, free.code);
  std::optional<uint64_t> d =
      firstFit(data, area.dataAddr, area.dataEnd, dataSize, free.data);
  if (!c || !d)
    return std::nullopt;
  return AreaRoom{*c, *d};
}

} // namespace hotpatch
