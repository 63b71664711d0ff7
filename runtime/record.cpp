//===- runtime/record.cpp - encode, decode and find patch records ---------===//

#include "record.h"

#include "target.h"

#include "llvm/Support/Endian.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <array>
#include <cstring>

using namespace llvm;

namespace hotpatch {
namespace {
namespace le = support::endian;

constexpr char magic[8] = {'H', 'P', 'R', 'E', 'C', '0', '0', '1'};

// Header fields (see record.h).
constexpr uint32_t idAt = 8, countAt = 12, regionAddrAt = 24, regionSizeAt = 32,
                   appliedAtAt = 40, nameAt = 48, nameSize = 64, buildIdAt = 112,
                   buildIdSize = 48, moduleBaseAt = 160, gatesAt = 176,
                   machineAt = 184, digestAt = 188, tablesAt = 172,
                   placementAt = 169, rwUnitsAt = 170;
static_assert(RecordLayout::unwindOffset == 186);
// Entry fields.
constexpr uint32_t entryAddrAt = 0, newAddrAt = 8, siteAt = 16, savedCountAt = 17,
                   savedAt = 24, nameRefAt = 56;
static_assert(savedAt + RecordLayout::maxSaved <= nameRefAt, "saved bytes overlap");
static_assert(digestAt + 4 <= RecordLayout::headerSize, "header overflows");

std::string fixedString(ArrayRef<uint8_t> field) {
  const char *s = reinterpret_cast<const char *>(field.data());
  return std::string(s, strnlen(s, field.size()));
}

void putString(MutableArrayRef<uint8_t> field, StringRef s) {
  s = s.take_front(field.size() - 1); // always NUL-terminated
  std::copy(s.begin(), s.end(), field.begin());
}

} // namespace

uint64_t encodedRecordSize(const AppliedPatch &p) {
  uint64_t names = 0;
  for (const RecordedFunction &f : p.functions)
    names += f.name.size() + 1;
  return alignTo(RecordLayout::headerSize + p.functions.size() * RecordLayout::entrySize + names, 64);
}

std::vector<uint8_t> encodeRecord(const AppliedPatch &p) {
  std::vector<uint8_t> rec(encodedRecordSize(p), 0);
  MutableArrayRef<uint8_t> r(rec);
  std::copy(std::begin(magic), std::end(magic), rec.begin());
  le::write32le(&rec[idAt], p.id);
  le::write32le(&rec[countAt], p.functions.size());
  le::write64le(&rec[RecordLayout::stateOffset], uint64_t(p.state));
  le::write64le(&rec[regionAddrAt], p.regionAddr);
  le::write64le(&rec[regionSizeAt], p.regionSize);
  le::write64le(&rec[appliedAtAt], p.appliedAtNs);
  putString(r.slice(nameAt, nameSize), p.name);
  putString(r.slice(buildIdAt, buildIdSize), p.buildId);
  le::write64le(&rec[moduleBaseAt], p.moduleBase);
  rec[RecordLayout::commitOffset] = p.committed;
  le::write64le(&rec[gatesAt], p.gatesOffset);
  le::write16le(&rec[machineAt], p.eMachine);
  le::write32le(&rec[digestAt], p.patchDigest);
  rec[RecordLayout::unwindOffset] = uint8_t(p.unwind);
  le::write32le(&rec[tablesAt], p.unwindTablesOffset);
  rec[placementAt] = p.inArea;
  le::write16le(&rec[rwUnitsAt], uint16_t(divideCeil(p.rwSize, 4096)));
  uint32_t names = RecordLayout::headerSize + p.functions.size() * RecordLayout::entrySize;
  for (size_t i = 0; i < p.functions.size(); ++i) {
    const RecordedFunction &f = p.functions[i];
    uint8_t *e = &rec[RecordLayout::headerSize + i * RecordLayout::entrySize];
    le::write64le(e + entryAddrAt, f.entryAddr);
    le::write64le(e + newAddrAt, f.newAddr);
    e[siteAt] = f.site;
    size_t saved = std::min<size_t>(f.saved.size(), RecordLayout::maxSaved);
    e[savedCountAt] = saved;
    std::copy_n(f.saved.begin(), saved, e + savedAt);
    le::write32le(e + nameRefAt, names);
    std::copy(f.name.begin(), f.name.end(), rec.begin() + names);
    names += f.name.size() + 1;
  }
  return rec;
}

std::optional<AppliedPatch> decodeRecordHeader(ArrayRef<uint8_t> head,
                                               uint32_t &count) {
  if (head.size() < RecordLayout::headerSize || !std::equal(std::begin(magic), std::end(magic),
                                                    head.begin()))
    return std::nullopt;
  AppliedPatch p;
  p.id = le::read32le(&head[idAt]);
  count = le::read32le(&head[countAt]);
  uint64_t state = le::read64le(&head[RecordLayout::stateOffset]);
  if (state != uint64_t(RecordState::Active) && state != uint64_t(RecordState::Reverted))
    return std::nullopt; // an apply that never finished: not a patch
  if (count > RecordLayout::maxFunctions)
    return std::nullopt;
  p.state = RecordState(state);
  p.regionAddr = le::read64le(&head[regionAddrAt]);
  p.regionSize = le::read64le(&head[regionSizeAt]);
  p.appliedAtNs = le::read64le(&head[appliedAtAt]);
  p.name = fixedString(head.slice(nameAt, nameSize));
  p.buildId = fixedString(head.slice(buildIdAt, buildIdSize));
  p.moduleBase = le::read64le(&head[moduleBaseAt]);
  p.gatesOffset = le::read64le(&head[gatesAt]);
  p.eMachine = le::read16le(&head[machineAt]);
  p.patchDigest = le::read32le(&head[digestAt]);
  p.unwind = UnwindState(std::min<uint8_t>(head[RecordLayout::unwindOffset], 2));
  p.unwindTablesOffset = le::read32le(&head[tablesAt]);
  p.inArea = head[placementAt] == 1;
  p.rwSize = p.inArea ? uint64_t(le::read16le(&head[rwUnitsAt])) * 4096 : 0;
  // (Before gates, an active patch was in effect.)
  p.committed = p.gatesOffset ? head[RecordLayout::commitOffset] != 0 : p.active();
  return p;
}

Expected<RecordedFunction> decodeRecordEntry(ArrayRef<uint8_t> e,
                                             uint32_t &nameOffset) {
  if (e.size() < RecordLayout::entrySize)
    return createStringError(std::errc::illegal_byte_sequence,
                             "truncated patch record entry");
  RecordedFunction f;
  f.entryAddr = le::read64le(&e[entryAddrAt]);
  f.newAddr = le::read64le(&e[newAddrAt]);
  f.site = e[siteAt];
  unsigned saved = e[savedCountAt];
  if (saved > RecordLayout::maxSaved)
    return createStringError(std::errc::illegal_byte_sequence,
                             "corrupt patch record: %u saved bytes", saved);
  f.saved.assign(&e[savedAt], &e[savedAt] + saved);
  nameOffset = le::read32le(&e[nameRefAt]);
  return f;
}

Expected<AppliedPatch> decodeRecord(ArrayRef<uint8_t> bytes) {
  uint32_t count = 0;
  std::optional<AppliedPatch> p = decodeRecordHeader(bytes, count);
  if (!p)
    return createStringError(std::errc::illegal_byte_sequence,
                             "not the record of a finished apply");
  if (RecordLayout::headerSize + uint64_t(count) * RecordLayout::entrySize > bytes.size())
    return createStringError(std::errc::illegal_byte_sequence,
                             "truncated patch record");
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t nameOffset = 0;
    Expected<RecordedFunction> f = decodeRecordEntry(
        bytes.slice(RecordLayout::headerSize + i * RecordLayout::entrySize, RecordLayout::entrySize),
        nameOffset);
    if (!f)
      return f.takeError();
    if (nameOffset < bytes.size())
      f->name = fixedString(bytes.drop_front(nameOffset));
    p->functions.push_back(std::move(*f));
  }
  return std::move(*p);
}

namespace {

/// A record found in the target, read in three batched steps.
struct Found {
  uint64_t start = 0, end = 0; // the record, and the memory it may span
  AppliedPatch p;
  uint32_t count = 0;
  std::vector<uint8_t> entries, names;
  std::vector<uint32_t> nameOffsets; // in the record, one per entry
  uint64_t namesAt = 0;              // offset of names[0] in the record
  bool corrupt = false;
};

/// Step 1: the header of every anonymous writable mapping, in one read;
/// those holding a record of a finished apply.
std::vector<Found> findHeaders(const Target &target, const std::vector<Mapping> &maps,
                               ArrayRef<std::pair<uint64_t, uint64_t>> areaData) {
  const uint64_t page = systemPageSize();
  struct Candidate {
    uint64_t start, end;
  };
  std::vector<Candidate> candidates;
  for (const Mapping &m : maps)
    if (m.path.empty() && m.read && m.write && m.end - m.start >= page)
      candidates.push_back({m.start, m.end});
  // (A record in an area may also start an anonymous mapping: once.)
  for (auto [lo, hi] : areaData)
    for (uint64_t at = lo; at + RecordLayout::headerSize <= hi; at += 4096)
      if (llvm::none_of(candidates, [&](const Candidate &c) { return c.start == at; }))
        candidates.push_back({at, hi});
  std::vector<std::array<uint8_t, RecordLayout::headerSize>> heads(candidates.size());
  std::vector<MemoryPiece> pieces;
  for (size_t i = 0; i < candidates.size(); ++i)
    pieces.push_back({candidates[i].start, heads[i]});
  std::vector<bool> got = target.readMany(pieces);
  std::vector<Found> found;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const Candidate &m = candidates[i];
    uint32_t count = 0;
    std::optional<AppliedPatch> p;
    if (got[i])
      p = decodeRecordHeader(heads[i], count);
    // (A record is a few pages: anything bigger is not one of ours.)
    uint64_t size = RecordLayout::headerSize + uint64_t(count) * RecordLayout::entrySize;
    if (!p || size > m.end - m.start)
      continue;
    p->recordAddr = m.start;
    Found f;
    f.start = m.start;
    f.end = m.end;
    f.p = std::move(*p);
    f.count = count;
    f.entries.resize(size_t(count) * RecordLayout::entrySize);
    found.push_back(std::move(f));
  }
  return found;
}

/// Step 2: every record's entries, in one read.
Error readEntries(const Target &target, std::vector<Found> &found) {
  std::vector<MemoryPiece> pieces;
  for (Found &f : found)
    pieces.push_back({f.start + RecordLayout::headerSize, f.entries});
  std::vector<bool> got = target.readMany(pieces);
  for (size_t k = 0; k < found.size(); ++k) {
    Found &f = found[k];
    if (!got[k])
      return createStringError(std::errc::io_error,
                               "process %d: cannot read the patch record at %llx",
                               target.pid(), (unsigned long long)f.start);
    for (uint32_t i = 0; i < f.count && !f.corrupt; ++i) {
      uint32_t off = 0;
      Expected<RecordedFunction> fn = decodeRecordEntry(
          ArrayRef<uint8_t>(f.entries).slice(i * RecordLayout::entrySize,
                                             RecordLayout::entrySize),
          off);
      if (!fn) { // not one of ours after all (or overwritten): not listed
        consumeError(fn.takeError());
        f.corrupt = true;
        break;
      }
      f.p.functions.push_back(std::move(*fn));
      f.nameOffsets.push_back(off);
    }
  }
  return Error::success();
}

/// Step 3: every record's names, in one read: from the first name to the
/// end of the last (each read up to 127 bytes).
void readNames(const Target &target, std::vector<Found> &found) {
  constexpr uint64_t maxName = 127;
  std::vector<MemoryPiece> pieces;
  for (Found &f : found) {
    uint64_t size = f.end - f.start, lo = size, hi = 0;
    for (uint32_t off : f.nameOffsets)
      if (off < size) {
        lo = std::min<uint64_t>(lo, off);
        hi = std::max(hi, std::min(off + maxName, size));
      }
    f.namesAt = lo;
    f.names.resize(lo < hi && hi - lo <= (1u << 20) ? hi - lo : 0);
    pieces.push_back({f.start + lo, f.names});
  }
  std::vector<bool> got = target.readMany(pieces);
  for (size_t k = 0; k < found.size(); ++k) {
    Found &f = found[k];
    if (!got[k])
      continue; // (nameless, but listed)
    for (size_t i = 0; i < f.nameOffsets.size(); ++i) {
      uint64_t off = f.nameOffsets[i];
      if (off >= f.namesAt && off - f.namesAt < f.names.size())
        f.p.functions[i].name =
            fixedString(ArrayRef<uint8_t>(f.names).drop_front(off - f.namesAt));
    }
  }
}

} // namespace

Expected<std::vector<AppliedPatch>>
readRecords(const Target &target, const std::vector<Mapping> &maps,
            ArrayRef<std::pair<uint64_t, uint64_t>> areaData) {
  std::vector<Found> found = findHeaders(target, maps, areaData);
  if (Error err = readEntries(target, found))
    return std::move(err);
  readNames(target, found);
  std::vector<AppliedPatch> out;
  for (Found &f : found)
    if (!f.corrupt)
      out.push_back(std::move(f.p));
  llvm::sort(out, [](const AppliedPatch &a, const AppliedPatch &b) { return a.id < b.id; });
  return out;
}

} // namespace hotpatch
