//===- runtime/loader.cpp - apply, list and revert patches ----------------===//

#include "loader.h"

#include "arch.h"
#include "elf-info.h"
#include "fingerprint-table.h"
#include "unwind.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Object/ELF.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <array>
#include <ctime>
#include <map>
#include <set>
#include <unistd.h>

using namespace llvm;
using namespace llvm::object;

namespace hotpatch {

char ApplyError::ID;

namespace {
namespace le = support::endian;

constexpr uint64_t pageSize = 4096;
constexpr char recordMagic[8] = {'H', 'P', 'R', 'E', 'C', '0', '0', '1'};
constexpr uint32_t recHeaderSize = 192;
constexpr uint32_t recEntrySize = 64;
enum RecordState : uint64_t { statePreparing = 1, stateActive = 2, stateReverted = 3 };
/// Header fields after the module base: the commit byte the gates read
/// (1: the patch's functions run its code), and where the gates are.
constexpr uint32_t recCommitOffset = 168, recGatesOffset = 176;
// Linux mmap flags (the same on x86_64 and aarch64).
constexpr uint64_t protRead = 1, protWrite = 2, protExec = 4;
constexpr uint64_t mapPrivate = 0x02, mapFixed = 0x10, mapAnonymous = 0x20,
                   mapFixedNoReplace = 0x100000;

Error applyError(ApplyError::Kind kind, const Twine &msg) {
  return make_error<ApplyError>(kind, msg.str());
}

/// One ELF file mapped into the target, with its symbols.
struct Module {
  std::string path;    // as /proc/PID/maps names it
  std::string mapFile; // where we can read it
  uint64_t start = ~0ull, end = 0;
  uint64_t base = 0;
  bool isExec = false;
  std::string buildId;
  bool loaded = false, isElf = false;
  SymbolIndex symbols;
};

Error loadModule(Module &m, const std::vector<Mapping> &maps) {
  if (m.loaded)
    return Error::success();
  m.loaded = true;
  ErrorOr<std::unique_ptr<MemoryBuffer>> buf =
      MemoryBuffer::getFile(m.mapFile, /*IsText=*/false, false);
  if (!buf)
    return Error::success(); // not readable: not a candidate
  Expected<ELFFile<ELF64LE>> file = ELFFile<ELF64LE>::create((*buf)->getBuffer());
  if (!file) {
    consumeError(file.takeError());
    return Error::success();
  }
  m.isElf = true;
  m.isExec = file->getHeader().e_type == ELF::ET_EXEC;
  m.buildId = buildIdOf(*file);
  // Load bias: the mapping of file offset 0 holds the first PT_LOAD.
  uint64_t firstVaddr = 0;
  if (Expected<ELF64LE::PhdrRange> phdrs = file->program_headers()) {
    for (const auto &ph : *phdrs)
      if (ph.p_type == ELF::PT_LOAD) {
        firstVaddr = ph.p_vaddr & ~(pageSize - 1);
        break;
      }
  } else {
    consumeError(phdrs.takeError());
  }
  uint64_t firstMap = ~0ull;
  for (const Mapping &map : maps)
    if (map.path == m.path && map.fileOffset == 0)
      firstMap = std::min(firstMap, map.start);
  m.base = m.isExec ? 0 : firstMap - firstVaddr;

  Expected<SymbolIndex> index = indexSymbols(*file, m.base);
  if (!index) {
    consumeError(index.takeError());
    return Error::success();
  }
  m.symbols = std::move(*index);
  return Error::success();
}

/// What the target is and holds, gathered before anything stops.
struct Prepared {
  const Arch *arch = nullptr;
  std::vector<Mapping> maps;
  std::vector<Module> modules;
  Module *module = nullptr;
  // Layout of the patch in the target.
  uint64_t rxSize = 0, roSize = 0, rwSize = 0, total = 0;
  uint64_t textOff = 0, pltOff = 0, gatesOff = 0, rodataOff = 0, recordOff = 0,
           dataOff = 0, bssOff = 0, gotOff = 0;
  uint64_t recordSize = 0;
  uint64_t addr = 0; // where it was mapped
  // Per function map entry.
  struct Flip {
    std::string name;
    uint64_t entryAddr = 0, newAddr = 0;
    unsigned site = 0;
    std::vector<uint8_t> before; // padding and entry now in the target
    Arch::Redirect redirect;     // to the new code: the end state
    Arch::Redirect toGate;       // to the gate: until the patch commits
    uint64_t gateAddr = 0;
    uint64_t back = 0;    // what the function runs while uncommitted
    bool stacked = false; // an earlier patch's redirect is in place
    std::pair<uint64_t, uint64_t> previousCode; // stacked: that patch's code
    uint64_t oldSize = 0;
  };
  std::vector<Flip> flips;
  // IFUNC resolver -> the implementation it chose, run in the target.
  std::map<uint64_t, uint64_t> ifuncResults;
};

std::vector<Module> groupModules(const Target &target, const std::vector<Mapping> &maps) {
  std::vector<Module> out;
  StringMap<size_t> byPath;
  for (const Mapping &m : maps) {
    if (m.path.empty() || m.path[0] != '/' || m.inode == 0)
      continue;
    auto [it, inserted] = byPath.try_emplace(m.path, out.size());
    if (inserted) {
      out.emplace_back();
      out.back().path = m.path;
      out.back().mapFile = target.fileOf(m);
    }
    Module &mod = out[it->second];
    mod.start = std::min(mod.start, m.start);
    mod.end = std::max(mod.end, m.end);
  }
  return out;
}

/// Reads every record hp-apply left in the target: anonymous private
/// mappings starting with the record magic.
/// More functions than any patch replaces: a record claiming them is not one.
constexpr uint32_t maxRecordFunctions = 1 << 16;

Expected<std::vector<AppliedPatch>> readRecords(Target &target,
                                                const std::vector<Mapping> &maps) {
  // A process patched many times keeps many records: every candidate's
  // header in one read, then every record's entries, then their names.
  std::vector<const Mapping *> candidates;
  for (const Mapping &m : maps)
    if (m.path.empty() && m.read && m.write && m.end - m.start >= pageSize)
      candidates.push_back(&m);
  std::vector<std::array<uint8_t, recHeaderSize>> heads(candidates.size());
  std::vector<MemoryPiece> pieces;
  for (size_t i = 0; i < candidates.size(); ++i)
    pieces.push_back({candidates[i]->start, heads[i]});
  std::vector<bool> got = target.readMany(pieces);

  struct Found {
    const Mapping *m;
    AppliedPatch p;
    uint32_t n;
    std::vector<uint8_t> entries, names;
    uint64_t namesAt = 0; // offset of names[0] in the record
  };
  std::vector<Found> found;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const uint8_t *head = heads[i].data();
    const Mapping &m = *candidates[i];
    if (!got[i] || memcmp(head, recordMagic, 8) != 0)
      continue;
    AppliedPatch p;
    p.recordAddr = m.start;
    p.id = le::read32le(head + 8);
    uint32_t n = le::read32le(head + 12);
    uint64_t state = le::read64le(head + 16);
    p.active = state == stateActive;
    p.regionAddr = le::read64le(head + 24);
    p.regionSize = le::read64le(head + 32);
    p.appliedAtNs = le::read64le(head + 40);
    p.name = std::string(reinterpret_cast<const char *>(head + 48),
                         strnlen(reinterpret_cast<const char *>(head + 48), 64));
    p.buildId = std::string(reinterpret_cast<const char *>(head + 112),
                            strnlen(reinterpret_cast<const char *>(head + 112), 48));
    p.gatesOffset = le::read64le(head + recGatesOffset);
    // (Before gates, an active patch was in effect.)
    p.committed = p.gatesOffset ? head[recCommitOffset] != 0 : p.active;
    if (state != stateActive && state != stateReverted)
      continue; // an apply that never finished: not a patch
    // (A record is a few pages: anything bigger is not one of ours.)
    if (n > maxRecordFunctions ||
        uint64_t(n) * recEntrySize + recHeaderSize > m.end - m.start)
      continue;
    found.push_back(
        {&m, std::move(p), n, std::vector<uint8_t>(size_t(n) * recEntrySize), {}});
  }
  pieces.clear();
  for (Found &f : found)
    pieces.push_back({f.m->start + recHeaderSize, f.entries});
  got = target.readMany(pieces);
  for (size_t i = 0; i < found.size(); ++i)
    if (!got[i])
      return createStringError(std::errc::io_error,
                               "process %d: cannot read the patch record at %llx",
                               target.pid(), (unsigned long long)found[i].m->start);

  // The names (each read up to 127 bytes).
  constexpr uint64_t maxName = 127;
  pieces.clear();
  for (Found &f : found) {
    uint64_t size = f.m->end - f.m->start, lo = size, hi = 0;
    for (uint32_t i = 0; i < f.n; ++i) {
      uint64_t off = le::read32le(f.entries.data() + i * recEntrySize + 56);
      if (off < size) {
        lo = std::min(lo, off);
        hi = std::max(hi, std::min(off + maxName, size));
      }
    }
    f.namesAt = lo;
    f.names.resize(lo < hi && hi - lo <= (1u << 20) ? hi - lo : 0);
    pieces.push_back({f.m->start + lo, f.names});
  }
  got = target.readMany(pieces);

  std::vector<AppliedPatch> out;
  for (size_t k = 0; k < found.size(); ++k) {
    Found &f = found[k];
    if (!got[k])
      f.names.clear(); // (nameless, but listed)
    for (uint32_t i = 0; i < f.n; ++i) {
      const uint8_t *e = f.entries.data() + i * recEntrySize;
      RecordedFunction fn;
      fn.entryAddr = le::read64le(e);
      fn.newAddr = le::read64le(e + 8);
      uint64_t off = le::read32le(e + 56);
      if (off >= f.namesAt && off - f.namesAt < f.names.size()) {
        const char *name =
            reinterpret_cast<const char *>(f.names.data() + off - f.namesAt);
        fn.name = std::string(name, strnlen(name, f.names.size() - (off - f.namesAt)));
      }
      f.p.functions.push_back(std::move(fn));
    }
    out.push_back(std::move(f.p));
  }
  std::sort(out.begin(), out.end(),
            [](const AppliedPatch &a, const AppliedPatch &b) { return a.id < b.id; });
  return out;
}

/// The saved bytes of record entry \p i of the patch at \p recordAddr.
Expected<std::pair<std::vector<uint8_t>, unsigned>>
savedBytes(Target &target, uint64_t recordAddr, uint32_t i) {
  uint8_t e[recEntrySize];
  if (Error err = target.read(recordAddr + recHeaderSize + i * recEntrySize, e))
    return std::move(err);
  unsigned site = e[16], len = e[17];
  if (len > 32)
    return applyError(ApplyError::Failed, "corrupt record");
  return std::make_pair(std::vector<uint8_t>(e + 24, e + 24 + len), site);
}

/// Picks an address for \p size bytes as close to [lo, hi) as possible,
/// in a gap of the address space, within +-1 GiB so every PC-relative
/// reference of the patch reaches the module.
std::optional<uint64_t> placeNear(const std::vector<Mapping> &maps, uint64_t lo,
                                  uint64_t hi, uint64_t size) {
  std::vector<std::pair<uint64_t, uint64_t>> used;
  for (const Mapping &m : maps)
    used.push_back({m.start, m.end});
  std::sort(used.begin(), used.end());
  std::optional<uint64_t> best;
  uint64_t bestDistance = ~0ull;
  uint64_t prevEnd = 0x10000;
  auto consider = [&](uint64_t gapLo, uint64_t gapHi) {
    if (gapHi <= gapLo || gapHi - gapLo < size + 2 * pageSize)
      return;
    // Leave a guard page on both sides.
    uint64_t candidates[] = {gapHi - pageSize - size, gapLo + pageSize};
    for (uint64_t c : candidates) {
      c &= ~(pageSize - 1);
      if (c < gapLo + pageSize || c + size > gapHi - pageSize)
        continue;
      uint64_t distance = c + size <= lo ? lo - c : c >= hi ? c + size - lo : 0;
      if (c + size > hi && c >= lo)
        distance = c + size - lo;
      if (distance < bestDistance && distance < (1ull << 30)) {
        bestDistance = distance;
        best = c;
      }
    }
  };
  for (auto [start, end] : used) {
    consider(prevEnd, start);
    prevEnd = std::max(prevEnd, end);
  }
  consider(prevEnd, 0x7ffffffff000ull);
  return best;
}

Error resolveSymbols(const PatchFile &patch, Prepared &prep,
                     const std::vector<uint64_t> &sectionAddr,
                     std::vector<uint64_t> &symAddr) {
  symAddr.assign(patch.symbols.size(), 0);
  for (size_t i = 0; i < patch.symbols.size(); ++i) {
    const PatchSymbol &s = patch.symbols[i];
    if (s.defined) {
      symAddr[i] = sectionAddr[unsigned(s.section)] + s.value;
      continue;
    }
    Module &mod = *prep.module;
    if (s.refOffset != unresolvedOffset) {
      symAddr[i] = mod.base + s.refOffset;
      continue;
    }
    if (!s.refSource.empty()) {
      auto it = mod.symbols.locals.find({s.refSource, s.refName});
      if (it == mod.symbols.locals.end())
        return applyError(ApplyError::Refused,
                          formatv("{0} has no file-local symbol '{1}' from {2}",
                                  mod.path, s.refName, s.refSource));
      if (it->second.size() > 1)
        return applyError(ApplyError::Refused,
                          formatv("{0} has {1} file-local symbols '{2}' from "
                                  "files named {3}; patch with --target to "
                                  "resolve them exactly",
                                  mod.path, it->second.size(), s.refName,
                                  s.refSource));
      symAddr[i] = it->second.front();
      continue;
    }
    auto it = mod.symbols.globals.find(s.refName);
    if (it != mod.symbols.globals.end()) {
      symAddr[i] = it->second;
      if (mod.symbols.ifuncs.count(it->second)) {
        auto chosen = prep.ifuncResults.find(it->second);
        if (chosen == prep.ifuncResults.end())
          prep.ifuncResults[it->second] = 0;
        else
          symAddr[i] = chosen->second;
      }
      continue;
    }
    bool found = false;
    if (!s.refInModule)
      for (Module &other : prep.modules) {
        if (&other == &mod)
          continue;
        if (Error err = loadModule(other, prep.maps))
          return err;
        auto hit = other.symbols.dynamic.find(s.refName);
        if (hit != other.symbols.dynamic.end()) {
          symAddr[i] = hit->second;
          if (other.symbols.ifuncs.count(hit->second)) {
            // strlen, memcpy...: the address is a resolver that picks an
            // implementation for this CPU; use what it picked.
            auto chosen = prep.ifuncResults.find(hit->second);
            if (chosen == prep.ifuncResults.end())
              prep.ifuncResults[hit->second] = 0; // to be resolved
            else
              symAddr[i] = chosen->second;
          }
          found = true;
          break;
        }
      }
    if (!found)
      return applyError(ApplyError::Refused,
                        formatv("symbol '{0}' the patch needs is not in {1}{2}",
                                s.refName, mod.path,
                                s.refInModule ? "" : " or any loaded library"));
  }
  return Error::success();
}

std::vector<uint8_t> buildRecord(const PatchFile &patch, const Prepared &prep,
                                 uint32_t id, StringRef patchName, uint64_t state) {
  std::vector<uint8_t> rec(prep.recordSize, 0);
  memcpy(rec.data(), recordMagic, 8);
  le::write32le(&rec[8], id);
  le::write32le(&rec[12], prep.flips.size());
  le::write64le(&rec[16], state);
  le::write64le(&rec[24], prep.addr);
  le::write64le(&rec[32], prep.total);
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  le::write64le(&rec[40], uint64_t(now.tv_sec) * 1000000000ull + now.tv_nsec);
  StringRef name = sys::path::filename(patchName).take_front(63);
  memcpy(&rec[48], name.data(), name.size());
  StringRef build = StringRef(patch.buildId).take_front(47);
  memcpy(&rec[112], build.data(), build.size());
  le::write64le(&rec[160], prep.module->base);
  le::write64le(&rec[recGatesOffset], prep.gatesOff); // commit byte: 0
  uint32_t names = recHeaderSize + prep.flips.size() * recEntrySize;
  for (size_t i = 0; i < prep.flips.size(); ++i) {
    const Prepared::Flip &f = prep.flips[i];
    uint8_t *e = &rec[recHeaderSize + i * recEntrySize];
    le::write64le(e, f.entryAddr);
    le::write64le(e + 8, f.newAddr);
    e[16] = f.site;
    e[17] = f.before.size();
    memcpy(e + 24, f.before.data(), std::min<size_t>(f.before.size(), 32));
    le::write32le(e + 56, names);
    memcpy(&rec[names], f.name.data(), f.name.size());
    names += f.name.size() + 1;
  }
  return rec;
}

/// Every stack of every (stopped) thread clear of [lo, hi) ranges? A thread
/// whose stack words already prove it is not walked (Unwinder::scanStacks);
/// \p maps (read just before the stop) tell where each stack ends. Call
/// Unwinder::newStop() before the stop.
Expected<std::string> busyThread(Target &target, Unwinder &unwinder,
                                 std::vector<std::pair<uint64_t, uint64_t>> ranges,
                                 const std::vector<Mapping> &maps) {
  llvm::sort(ranges);
  // The end of the writable memory holding a stack pointer (adjacent
  // writable mappings join: mlock or madvise can split a stack).
  auto stackEnd = [&](uint64_t sp) -> uint64_t {
    auto m = llvm::find_if(maps, [&](const Mapping &m) {
      return m.write && sp >= m.start && sp < m.end;
    });
    if (m == maps.end())
      return 0;
    uint64_t end = m->end;
    for (auto next = std::next(m); next != maps.end() && next->write &&
                                   next->start == end &&
                                   end - sp <= Unwinder::maxScan;
         ++next)
      end = next->end;
    return end; // (deeper than maxScan: walked, not scanned)
  };
  const std::vector<int> &tids = target.threads();
  Expected<std::vector<Unwinder::Verdict>> verdicts =
      unwinder.scanStacks(tids, ranges, stackEnd);
  if (!verdicts)
    return verdicts.takeError();
  std::vector<int> walk;
  std::vector<bool> suspect;
  for (size_t i = 0; i < tids.size(); ++i) {
    if ((*verdicts)[i] == Unwinder::Verdict::Clear)
      continue;
    walk.push_back(tids[i]);
    suspect.push_back((*verdicts)[i] == Unwinder::Verdict::Suspect);
  }
  std::vector<std::vector<uint64_t>> stacks;
  std::vector<bool> complete;
  if (Error err = unwinder.backtraceAll(walk, stacks, &complete))
    return std::move(err);
  for (size_t i = 0; i < stacks.size(); ++i) {
    for (uint64_t pc : stacks[i])
      for (auto [lo, hi] : ranges)
        if (pc >= lo && pc < hi)
          return formatv("thread {0} is inside [{1:x}, {2:x}) (pc {3:x})",
                         walk[i], lo, hi, pc)
              .str();
    // Its stack has a word in a replaced range and the walk stopped short
    // of the outermost frame (code without unwind tables): not clear.
    if (suspect[i] && !complete[i])
      return formatv("thread {0} may be inside a replaced function (a stack "
                     "word points into one; its stack cannot be walked to the "
                     "end)", walk[i])
          .str();
  }
  return std::string();
}

} // namespace

Expected<std::vector<AppliedPatch>> listPatches(Target &target) {
  Expected<std::vector<Mapping>> maps = target.mappings();
  if (!maps)
    return maps.takeError();
  return readRecords(target, *maps);
}

Expected<ApplyReport> applyPatch(Target &target, const PatchFile &patch,
                                 StringRef patchName, const ApplyOptions &opts) {
  ApplyReport report;
  report.dryRun = opts.dryRun;
  report.threads = target.threads().size();
  Prepared prep;
  Expected<const Arch &> arch = getArch(patch.eMachine);
  if (!arch)
    return applyError(ApplyError::Refused, toString(arch.takeError()));
  prep.arch = &*arch;
#if defined(__x86_64__)
  if (patch.eMachine != ELF::EM_X86_64)
#else
  if (patch.eMachine != ELF::EM_AARCH64)
#endif
    return applyError(ApplyError::Refused,
                      formatv("the patch is for {0}, this machine is not",
                              machineName(patch.eMachine)));

  Expected<std::vector<Mapping>> maps = target.mappings();
  if (!maps)
    return applyError(ApplyError::Gone, toString(maps.takeError()));
  prep.maps = std::move(*maps);
  prep.modules = groupModules(target, prep.maps);

  // Which module: by build-id when the patch names one, else the one module
  // that defines every replaced function.
  for (Module &m : prep.modules) {
    if (Error err = loadModule(m, prep.maps))
      return std::move(err);
    if (!m.isElf)
      continue;
    if (!patch.buildId.empty()) {
      if (m.buildId == patch.buildId) {
        prep.module = &m;
        break;
      }
      continue;
    }
    bool all = !patch.functions.empty();
    for (const FunctionMapEntry &fn : patch.functions)
      all &= fn.oldSource.empty() ? m.symbols.globals.count(fn.oldName) > 0
                                  : m.symbols.locals.count({fn.oldSource, fn.oldName}) > 0;
    if (all) {
      prep.module = &m;
      break;
    }
  }
  if (!prep.module)
    return applyError(
        ApplyError::Refused,
        patch.buildId.empty()
            ? formatv("process {0} has no module defining the patched "
                      "functions; nothing was changed", target.pid()).str()
            : formatv("process {0} has no module with build-id {1} ({2}); "
                      "the patch is for another build; nothing was changed",
                      target.pid(), patch.buildId, patch.targetName).str());
  report.module = prep.module->path;
  report.moduleBase = prep.module->base;

  // Records of earlier patches: a function they replaced is stacked on.
  Expected<std::vector<AppliedPatch>> earlier = readRecords(target, prep.maps);
  if (!earlier)
    return earlier.takeError();
  uint32_t id = 1;
  std::map<uint64_t, const AppliedPatch *> activeAt; // entry -> newest active
  for (const AppliedPatch &p : *earlier) {
    id = std::max(id, p.id + 1);
    if (p.active)
      for (const RecordedFunction &fn : p.functions)
        activeAt[fn.entryAddr] = &p;
  }
  report.id = id;

  // Entries: where, and are the bytes what the patch expects?
  PrologueBytes shape = prep.arch->prologue();
  for (const FunctionMapEntry &fn : patch.functions) {
    Prepared::Flip flip;
    flip.name = fn.oldName;
    flip.site = fn.siteOffset;
    flip.oldSize = fn.oldSize;
    Module &mod = *prep.module;
    if (fn.oldOffset != unresolvedOffset) {
      flip.entryAddr = mod.base + fn.oldOffset;
    } else if (fn.oldSource.empty()) {
      auto it = mod.symbols.globals.find(fn.oldName);
      if (it == mod.symbols.globals.end())
        return applyError(ApplyError::Refused,
                          formatv("{0} has no function '{1}'", mod.path, fn.oldName));
      flip.entryAddr = it->second;
    } else {
      auto it = mod.symbols.locals.find({fn.oldSource, fn.oldName});
      if (it == mod.symbols.locals.end() || it->second.size() != 1)
        return applyError(ApplyError::Refused,
                          formatv("{0}: cannot tell which file-local function "
                                  "'{1}' from {2} to patch", mod.path,
                                  fn.oldName, fn.oldSource));
      flip.entryAddr = it->second.front();
    }
    // The live stores (entry, padding) rely on the plugin's alignment.
    if ((flip.entryAddr - shape.padBefore) % 8 != 0)
      return applyError(ApplyError::Refused,
                        formatv("function '{0}' at {1:x} is not aligned as the "
                                "plugin aligns patchable functions; nothing "
                                "was changed", fn.oldName, flip.entryAddr));
    flip.before.resize(fn.expected.size());
    if (Error err = target.read(flip.entryAddr - shape.padBefore, flip.before))
      return applyError(ApplyError::Failed, toString(std::move(err)));
    if (flip.before != fn.expected) {
      // Stacked on earlier patches? The oldest active one covering this
      // entry saved the original bytes: they must be what this patch expects.
      bool ok = false;
      if (activeAt.count(flip.entryAddr))
        for (const AppliedPatch &p : *earlier) { // oldest first
          if (!p.active)
            continue;
          auto fnIt = llvm::find_if(p.functions, [&](const RecordedFunction &r) {
            return r.entryAddr == flip.entryAddr;
          });
          if (fnIt == p.functions.end())
            continue;
          auto saved = savedBytes(target, p.recordAddr, fnIt - p.functions.begin());
          if (!saved)
            return saved.takeError();
          ok = saved->first == fn.expected;
          break;
        }
      if (!ok)
        return applyError(
            ApplyError::Refused,
            formatv("function '{0}' at {1:x} does not start with the bytes the "
                    "patch expects (not built with the plugin, a different "
                    "build, or patched by another tool); nothing was changed",
                    fn.oldName, flip.entryAddr));
      // Uncommitted, this patch's gate goes back to what runs now: the
      // newest patch's code for this function.
      const AppliedPatch &newest = *activeAt.at(flip.entryAddr);
      if (!newest.committed)
        return applyError(ApplyError::Refused,
                          formatv("patch {0} was interrupted before it took "
                                  "effect; revert it first (hp-apply --revert "
                                  "{0}); nothing was changed", newest.id));
      for (const RecordedFunction &r : newest.functions)
        if (r.entryAddr == flip.entryAddr)
          flip.back = r.newAddr;
      flip.stacked = true;
      flip.previousCode = {newest.regionAddr, newest.recordAddr};
    } else {
      flip.back = flip.entryAddr + flip.site + shape.entryNop;
    }
    prep.flips.push_back(std::move(flip));
    report.functions.push_back(fn.oldName);
  }

  // Layout: [code | stubs] [read-only] [record | data | bss | slots].
  auto sec = [&](PatchSection s) -> const std::vector<uint8_t> & {
    return patch.sections[unsigned(s)];
  };
  prep.textOff = 0;
  prep.pltOff = alignTo(sec(PatchSection::Text).size(), 16);
  prep.gatesOff = alignTo(prep.pltOff + sec(PatchSection::Plt).size(), 16);
  prep.rxSize = alignTo(prep.gatesOff + prep.flips.size() * prep.arch->gateSize(),
                        pageSize);
  prep.rodataOff = prep.rxSize;
  prep.roSize = alignTo(sec(PatchSection::Rodata).size(), pageSize);
  prep.recordOff = prep.rodataOff + prep.roSize;
  uint64_t nameBytes = 0;
  for (const Prepared::Flip &f : prep.flips)
    nameBytes += f.name.size() + 1;
  prep.recordSize = alignTo(recHeaderSize + prep.flips.size() * recEntrySize +
                                nameBytes, 64);
  uint64_t dataAlign = std::max<uint64_t>(16, patch.align[unsigned(PatchSection::Data)]);
  prep.dataOff = alignTo(prep.recordOff + prep.recordSize, dataAlign);
  prep.bssOff = alignTo(prep.dataOff + sec(PatchSection::Data).size(),
                        std::max<uint64_t>(16, patch.align[unsigned(PatchSection::Bss)]));
  prep.gotOff = alignTo(prep.bssOff + patch.bssSize, 8);
  uint64_t rwEnd = prep.gotOff + sec(PatchSection::Got).size();
  prep.rwSize = alignTo(rwEnd - prep.recordOff, pageSize);
  prep.total = prep.rxSize + prep.roSize + prep.rwSize;

  std::optional<uint64_t> where =
      placeNear(prep.maps, prep.module->start, prep.module->end, prep.total);
  if (!where)
    return applyError(ApplyError::Failed,
                      formatv("no free address range within reach of {0}",
                              prep.module->path));

  std::unique_ptr<Unwinder> unwinder;
  if (opts.policy == Policy::Strict) {
    Expected<std::unique_ptr<Unwinder>> u = Unwinder::create(target.procId());
    if (!u)
      return applyError(ApplyError::Failed, toString(u.takeError()));
    unwinder = std::move(*u);
  }

  if (opts.dryRun) {
    // Resolve everything against the planned address; write nothing.
    prep.addr = *where;
    std::vector<uint64_t> secAddr(numPatchSections), symAddr;
    if (Error err = resolveSymbols(patch, prep, secAddr, symAddr))
      return std::move(err);
    report.patchAddr = *where;
    return report;
  }

  // Which IFUNC resolvers the patch needs: they run in the placement stop.
  {
    std::vector<uint64_t> secAddr(numPatchSections), symAddr;
    if (Error err = resolveSymbols(patch, prep, secAddr, symAddr))
      return std::move(err);
  }

  // Place: one thread is borrowed briefly to run the mmaps (and the
  // IFUNC resolvers, returning to a trap at the end of our code pages); the
  // others keep running.
  {
    Expected<uint64_t> t0 = target.stopOne();
    if (!t0)
      return applyError(ApplyError::Gone, toString(t0.takeError()));
    // The whole range is reserved first (no access, and only if free:
    // other threads keep mapping meanwhile), then each part is mapped over
    // it with its final protection (read-execute code, read-only data,
    // read-write): no mprotect ever makes memory executable, which
    // systemd's MemoryDenyWriteExecute and the kernel's PR_SET_MDWE
    // forbid; we fill even the code through /proc/PID/mem.
    uint64_t flags = mapPrivate | mapAnonymous;
    struct Part {
      uint64_t offset, size, prot;
    };
    const Part parts[] = {
        {0, prep.rxSize, protRead | protExec},
        {prep.rxSize, prep.roSize, protRead},
        {prep.rxSize + prep.roSize, prep.total - prep.rxSize - prep.roSize,
         protRead | protWrite},
    };
    Error err = Error::success();
    bool placed = false; // the range is ours: give it all back on failure
    Expected<int64_t> got = target.syscall(
        prep.arch->sysMmap(),
        {*where, prep.total, 0, flags | mapFixedNoReplace, uint64_t(-1), 0});
    if (!got) {
      err = got.takeError();
    } else if (uint64_t(*got) != *where) {
      bool mapped = !(*got < 0 && *got >= -4095); // else: -errno
      if (mapped) // somewhere else than asked: not within reach, give it back
        (void)target.syscall(prep.arch->sysMunmap(), {uint64_t(*got), prep.total});
      err = applyError(ApplyError::Failed,
                       formatv("mmap in the target returned {0} for {1:x}",
                               *got, *where));
    } else {
      placed = true;
      for (const Part &part : parts) {
        if (!part.size)
          continue;
        uint64_t at = *where + part.offset;
        Expected<int64_t> over = target.syscall(
            prep.arch->sysMmap(),
            {at, part.size, part.prot, flags | mapFixed, uint64_t(-1), 0});
        if (!over) {
          err = over.takeError();
          break;
        }
        if (uint64_t(*over) != at) {
          err = applyError(ApplyError::Failed,
                           formatv("mmap in the target returned {0} for {1:x}",
                                   *over, at));
          break;
        }
      }
    }
    for (auto &[resolver, chosen] : prep.ifuncResults) {
      if (err)
        break;
      Expected<uint64_t> r = target.call(resolver, {});
      if (!r)
        err = applyError(ApplyError::Failed,
                         "running an IFUNC resolver: " + toString(r.takeError()));
      else
        chosen = *r;
    }
    if (err && placed)
      (void)target.syscall(prep.arch->sysMunmap(), {*where, prep.total});
    // The first backtrace is slow (libdw's code and tables are cold: ~70
    // us against ~10): take it here, on the borrowed thread, not inside
    // the all-threads stop.
    if (!err && unwinder) {
      std::vector<uint64_t> pcs;
      if (Error warm = unwinder->backtrace(target.borrowedThread(), pcs))
        consumeError(std::move(warm)); // the real check will say
    }
    report.placeStopNs = target.resumeAll() - *t0;
    if (err)
      return std::move(err);
  }
  prep.addr = *where;
  report.patchAddr = *where;
  // From here on, a failure unmaps what we placed.
  // Once a redirect may have led a thread into the region (a stacked
  // function's padding, any entry store), a failure leaves the region
  // mapped and its record marked reverted: a thread may still be in a gate.
  bool reachable = false;
  auto unmap = [&]() {
    if (reachable) {
      uint8_t state[8];
      le::write64le(state, stateReverted);
      consumeError(target.write(prep.addr + prep.recordOff + 16, state));
      return;
    }
    Expected<uint64_t> stopped = target.stopOne();
    if (!stopped) {
      consumeError(stopped.takeError());
      return;
    }
    if (Expected<int64_t> rc =
            target.syscall(prep.arch->sysMunmap(), {prep.addr, prep.total});
        !rc)
      consumeError(rc.takeError());
    target.resumeAll();
  };

  // Relocate a local image and write it (forced writes: code is mapped r-x).
  std::vector<uint64_t> secAddr(numPatchSections);
  secAddr[unsigned(PatchSection::Text)] = prep.addr + prep.textOff;
  secAddr[unsigned(PatchSection::Plt)] = prep.addr + prep.pltOff;
  secAddr[unsigned(PatchSection::Rodata)] = prep.addr + prep.rodataOff;
  secAddr[unsigned(PatchSection::Data)] = prep.addr + prep.dataOff;
  secAddr[unsigned(PatchSection::Bss)] = prep.addr + prep.bssOff;
  secAddr[unsigned(PatchSection::Got)] = prep.addr + prep.gotOff;
  std::vector<uint64_t> symAddr;
  if (Error err = resolveSymbols(patch, prep, secAddr, symAddr)) {
    unmap();
    return std::move(err);
  }
  std::vector<uint8_t> image(prep.total, 0);
  auto place = [&](PatchSection s, uint64_t off) {
    const auto &bytes = patch.sections[unsigned(s)];
    std::copy(bytes.begin(), bytes.end(), image.begin() + off);
  };
  place(PatchSection::Text, prep.textOff);
  place(PatchSection::Plt, prep.pltOff);
  place(PatchSection::Rodata, prep.rodataOff);
  place(PatchSection::Data, prep.dataOff);
  place(PatchSection::Got, prep.gotOff);
  uint64_t secOff[numPatchSections] = {prep.textOff, prep.pltOff, prep.rodataOff,
                                       prep.dataOff, prep.bssOff, prep.gotOff};
  for (unsigned s = 0; s < numPatchSections; ++s)
    for (const PatchReloc &r : patch.relocs[s]) {
      uint64_t off = secOff[s] + r.offset;
      if (r.offset + prep.arch->relocExtent(r.type).second >
          patch.sections[s].size()) {
        unmap();
        return applyError(ApplyError::Refused,
                          formatv("relocation at {0}+{1:x} runs past the "
                                  "section; the patch is malformed",
                                  patchSectionName(PatchSection(s)), r.offset));
      }
      if (Error err = prep.arch->applyReloc(r.type, image.data() + off,
                                            prep.addr + off, symAddr[r.symbol],
                                            r.addend)) {
        unmap();
        return applyError(ApplyError::Failed,
                          formatv("relocation against '{0}': {1}",
                                  patch.symbols[r.symbol].name,
                                  toString(std::move(err))));
      }
    }
  uint64_t commitAddr = prep.addr + prep.recordOff + recCommitOffset;
  for (Prepared::Flip &f : prep.flips) {
    size_t i = &f - prep.flips.data();
    const FunctionMapEntry &fn = patch.functions[i];
    f.newAddr = symAddr[fn.newSymbol];
    f.redirect = prep.arch->encodeRedirect(f.entryAddr, f.site, f.newAddr);
    uint64_t gateOff = prep.gatesOff + i * prep.arch->gateSize();
    f.gateAddr = prep.addr + gateOff;
    f.toGate = prep.arch->encodeRedirect(f.entryAddr, f.site, f.gateAddr);
    Expected<SmallVector<uint8_t, 64>> gate =
        prep.arch->encodeGate(f.gateAddr, commitAddr, f.back, f.newAddr);
    if (!gate) {
      unmap();
      return applyError(ApplyError::Failed,
                        formatv("function '{0}': {1}", f.name,
                                toString(gate.takeError())));
    }
    std::copy(gate->begin(), gate->end(), image.begin() + gateOff);
    report.farJumps |= f.redirect.pad.size() && f.redirect.pad[0] != 0xe9 &&
                       patch.eMachine == ELF::EM_X86_64;
  }
  std::vector<uint8_t> record = buildRecord(patch, prep, id, patchName, statePreparing);
  std::copy(record.begin(), record.end(), image.begin() + prep.recordOff);
  if (Error err = target.write(prep.addr, image)) {
    unmap();
    return applyError(ApplyError::Failed, toString(std::move(err)));
  }
  std::vector<uint8_t> check(image.size());
  if (Error err = target.read(prep.addr, check); err || check != image) {
    if (err)
      consumeError(std::move(err));
    unmap();
    return applyError(ApplyError::Failed, "the patch read back differently");
  }

  // The flip, in four steps; hp-apply may die at any point and the process
  // runs either the old code or the new, never some of each:
  //  1. (running) every entry's padding, or a patched entry's redirect,
  //     goes to the function's gate, which goes back to what runs now;
  //  2. the entries of unpatched functions jump to their padding: one
  //     aligned store each; every function still runs what it ran;
  //  3. commit: the one byte the gates read; every function at once;
  //  4. each redirect goes straight to the new code (the gates then only
  //     matter to a revert).
  // Under `strict` and `none`, 2 to 4 happen with every thread stopped.
  std::vector<std::pair<uint64_t, uint64_t>> replaced;
  for (const Prepared::Flip &f : prep.flips) {
    replaced.push_back({f.entryAddr - shape.padBefore,
                        f.entryAddr + std::max<uint64_t>(f.oldSize, 1)});
    // A stacked function runs the earlier patch's code: that too.
    if (f.stacked)
      replaced.push_back(f.previousCode);
  }
  // And our own gates: a thread between a gate's test and its jump would
  // take the old way after the commit.
  replaced.push_back({prep.addr + prep.gatesOff,
                      prep.addr + prep.gatesOff +
                          prep.flips.size() * prep.arch->gateSize()});
  // The bytes from the padding through the entry NOP, for a redirect.
  auto redirected = [&](const Prepared::Flip &f, const Arch::Redirect &r) {
    std::vector<uint8_t> out = f.before;
    std::copy(r.pad.begin(), r.pad.end(), out.begin());
    std::copy(r.site.begin(), r.site.end(),
              out.begin() + shape.padBefore + f.site);
    return out;
  };
  // Changes [from -> to] at the padding of \p f. A running thread must see
  // it whole: only as one aligned 8-byte store (or none); with every thread
  // stopped, any write.
  auto retarget = [&](const Prepared::Flip &f, ArrayRef<uint8_t> from,
                      ArrayRef<uint8_t> to, bool stopped) -> Error {
    uint64_t base = f.entryAddr - shape.padBefore;
    size_t lo = 0, hi = from.size();
    while (lo < hi && from[lo] == to[lo])
      ++lo;
    while (hi > lo && from[hi - 1] == to[hi - 1])
      --hi;
    if (lo == hi)
      return Error::success();
    if (stopped)
      return target.write(base + lo, to.slice(lo, hi - lo));
    uint64_t window = (base + lo) & ~uint64_t(7);
    if (base + hi > window + 8 || window < base || window + 8 > base + to.size())
      return createStringError(std::errc::operation_not_supported,
                               "function '%s': its redirect cannot change in "
                               "one store", f.name.c_str());
    return target.write(window, to.slice(window - base, 8));
  };
  auto rollBackFlips = [&]() {
    for (const Prepared::Flip &f : prep.flips)
      if (!f.stacked)
        consumeError(target.write(f.entryAddr + f.site,
                                  ArrayRef<uint8_t>(f.before).slice(
                                      shape.padBefore + f.site, shape.entryNop)));
    for (const Prepared::Flip &f : prep.flips)
      if (f.stacked)
        consumeError(retarget(f, redirected(f, f.toGate), f.before, target.stopped()));
      else
        consumeError(target.write(f.entryAddr - shape.padBefore, f.before));
  };
  // The record says active before anything leads into the region: if
  // hp-apply dies from here on, --list shows the patch (uncommitted: the
  // old code runs) and --revert takes every redirect away.
  {
    uint8_t active[8];
    le::write64le(active, stateActive);
    if (Error err = target.write(prep.addr + prep.recordOff + 16, active)) {
      unmap();
      return applyError(ApplyError::Failed, toString(std::move(err)));
    }
  }
  // Step 1. No thread runs an unpatched function's padding while its entry
  // NOP is intact; a patched function's redirect changes in one store.
  for (const Prepared::Flip &f : prep.flips) {
    reachable |= f.stacked;
    Error err = f.stacked
                    ? retarget(f, f.before, redirected(f, f.toGate), /*stopped=*/false)
                    : target.write(f.entryAddr - shape.padBefore, f.toGate.pad);
    if (err) {
      rollBackFlips();
      unmap();
      return applyError(ApplyError::Failed, toString(std::move(err)));
    }
  }
  // A test hook: HOTPATCH_TEST_FLIP_DELAY_US slows the entry-by-entry
  // flip down, so a test can kill hp-apply between two entries for sure.
  static const unsigned flipDelayUs = [] {
    const char *v = getenv("HOTPATCH_TEST_FLIP_DELAY_US");
    return v ? unsigned(atoi(v)) : 0u;
  }();
  auto writeFlips = [&]() -> Error {
    reachable = true;
    for (const Prepared::Flip &f : prep.flips)
      if (!f.stacked) {
        if (Error err = target.write(f.entryAddr + f.site, f.toGate.site))
          return err;
        if (flipDelayUs)
          usleep(flipDelayUs);
      }
    return Error::success();
  };
  // With every thread stopped, the entry stores of one page can go in one
  // write: the bytes between them are read beforehand and written back
  // unchanged (code does not change under us). Each /proc/PID/mem write
  // costs several microseconds inside the pause. Not for entry-only, where
  // each entry must be one 2-byte store a running thread sees whole.
  struct PageWrite {
    uint64_t addr;
    std::vector<uint8_t> bytes;
  };
  std::vector<PageWrite> batched;
  if (opts.policy != Policy::EntryOnly) {
    std::map<uint64_t, std::vector<const Prepared::Flip *>> byPage;
    for (const Prepared::Flip &f : prep.flips)
      if (!f.stacked)
        byPage[(f.entryAddr + f.site) & ~(pageSize - 1)].push_back(&f);
    for (auto &[page, flips] : byPage) {
      uint64_t lo = ~0ull, hi = 0;
      for (const Prepared::Flip *f : flips) {
        lo = std::min(lo, f->entryAddr + f->site);
        hi = std::max(hi, f->entryAddr + f->site + f->toGate.site.size());
      }
      PageWrite w{lo, std::vector<uint8_t>(hi - lo)};
      if (Error err = target.read(lo, w.bytes)) {
        consumeError(std::move(err));
        batched.clear();
        break; // fall back to one write per entry
      }
      for (const Prepared::Flip *f : flips)
        std::copy(f->toGate.site.begin(), f->toGate.site.end(),
                  w.bytes.begin() + (f->entryAddr + f->site - lo));
      batched.push_back(std::move(w));
    }
  }
  auto writeBatched = [&]() -> Error {
    if (batched.empty())
      return writeFlips();
    reachable = true;
    for (const PageWrite &w : batched)
      if (Error err = target.write(w.addr, w.bytes))
        return err;
    return Error::success();
  };
  // Likewise step 4 while stopped: per page, every redirect's final bytes
  // (padding and entry) in one write.
  std::vector<PageWrite> straight;
  if (opts.policy != Policy::EntryOnly) {
    std::map<uint64_t, std::vector<const Prepared::Flip *>> byPage;
    for (const Prepared::Flip &f : prep.flips)
      byPage[(f.entryAddr - shape.padBefore) & ~(pageSize - 1)].push_back(&f);
    for (auto &[page, flips] : byPage) {
      uint64_t lo = ~0ull, hi = 0;
      for (const Prepared::Flip *f : flips) {
        lo = std::min(lo, f->entryAddr - shape.padBefore);
        hi = std::max(hi, f->entryAddr - shape.padBefore + f->before.size());
      }
      PageWrite w{lo, std::vector<uint8_t>(hi - lo)};
      if (Error err = target.read(lo, w.bytes)) {
        consumeError(std::move(err));
        straight.clear();
        break; // fall back to one write per function
      }
      for (const Prepared::Flip *f : flips) {
        std::vector<uint8_t> final = redirected(*f, f->redirect);
        std::copy(final.begin(), final.end(),
                  w.bytes.begin() + (f->entryAddr - shape.padBefore - lo));
      }
      straight.push_back(std::move(w));
    }
  }
  auto commit = [&]() -> Error {
    static constexpr uint8_t one[] = {1};
    return target.write(commitAddr, one);
  };
  // Step 4: best effort. A redirect left on its gate still runs the new
  // code, one jump later.
  auto goStraight = [&](bool stopped) {
    if (stopped && !straight.empty()) {
      for (const PageWrite &w : straight)
        if (Error err = target.write(w.addr, w.bytes)) {
          consumeError(std::move(err));
          report.viaGate = prep.flips.size(); // (at most: some pages went)
        }
      return;
    }
    for (const Prepared::Flip &f : prep.flips)
      if (Error err = retarget(f, redirected(f, f.toGate), redirected(f, f.redirect),
                               stopped)) {
        consumeError(std::move(err));
        ++report.viaGate;
      }
  };

  if (opts.policy == Policy::EntryOnly) {
    Error err = writeFlips();
    if (!err)
      err = commit();
    if (err) {
      rollBackFlips();
      unmap();
      return applyError(ApplyError::Failed, toString(std::move(err)));
    }
    goStraight(/*stopped=*/false);
    report.pauseNs = 0;
    report.threadsStopped = 0;
  } else {
    for (unsigned attempt = 1;; ++attempt) {
      report.tries = attempt;
      // Where the stacks are, as late as possible before the stop (threads
      // come and go between tries).
      std::vector<Mapping> stackMaps = prep.maps;
      if (opts.policy == Policy::Strict) {
        if (Expected<std::vector<Mapping>> fresh = target.mappings())
          stackMaps = std::move(*fresh);
        else
          consumeError(fresh.takeError());
      }
      if (unwinder)
        unwinder->newStop(target.threads().size());
      Expected<uint64_t> t0 = target.stopAll();
      if (!t0) {
        rollBackFlips();
        unmap();
        return applyError(ApplyError::Gone, toString(t0.takeError()));
      }
      std::string busy;
      uint64_t tStopped = monotonicNs();
      if (opts.policy == Policy::Strict) {
        Expected<std::string> who = busyThread(target, *unwinder, replaced, stackMaps);
        report.unwindNs = monotonicNs() - tStopped;
        if (!who) {
          rollBackFlips();
          target.resumeAll();
          unmap();
          return applyError(ApplyError::Failed, toString(who.takeError()));
        }
        busy = *who;
      }
      if (busy.empty()) {
        report.stopNs = tStopped - *t0;
        Error err = writeBatched();
        if (!err)
          err = commit();
        if (err)
          rollBackFlips();
        else
          goStraight(/*stopped=*/true);
        uint64_t t1 = target.resumeAll();
        report.pauseNs = t1 - *t0;
        report.threadsStopped = target.threads().size();
        if (err) {
          unmap();
          return applyError(ApplyError::Failed, toString(std::move(err)));
        }
        break;
      }
      target.resumeAll();
      if (attempt >= opts.retries) {
        rollBackFlips();
        unmap();
        return applyError(ApplyError::Busy,
                          formatv("gave up after {0} tries: {1}, a function "
                                  "being replaced; nothing was changed "
                                  "(--policy entry-only lets running frames "
                                  "finish the old code)", attempt, busy));
      }
      usleep(opts.retryDelayUs);
    }
  }
  return report;
}

Expected<RevertReport> revertPatch(Target &target, uint32_t id,
                                   const ApplyOptions &opts) {
  Expected<std::vector<AppliedPatch>> all = listPatches(target);
  if (!all)
    return all.takeError();
  const AppliedPatch *patch = nullptr;
  for (const AppliedPatch &p : *all)
    if (p.id == id)
      patch = &p;
  if (!patch)
    return applyError(ApplyError::Refused,
                      formatv("process {0} has no patch {1}", target.pid(), id));
  if (!patch->active)
    return applyError(ApplyError::Refused,
                      formatv("patch {0} is already reverted", id));
  for (const AppliedPatch &p : *all)
    if (p.active && p.id > id)
      for (const RecordedFunction &a : p.functions)
        for (const RecordedFunction &b : patch->functions)
          if (a.entryAddr == b.entryAddr)
            return applyError(ApplyError::Refused,
                              formatv("patch {0} also replaces '{1}'; revert it "
                                      "first (last applied, first reverted)",
                                      p.id, a.name));
#if defined(__x86_64__)
  const Arch &arch = cantFail(getArch(ELF::EM_X86_64));
#else
  const Arch &arch = cantFail(getArch(ELF::EM_AARCH64));
#endif
  PrologueBytes shape = arch.prologue();
  struct Restore {
    uint64_t entry;
    unsigned site;
    std::vector<uint8_t> bytes;
  };
  std::vector<Restore> restores;
  for (size_t i = 0; i < patch->functions.size(); ++i) {
    auto saved = savedBytes(target, patch->recordAddr, i);
    if (!saved)
      return saved.takeError();
    restores.push_back({patch->functions[i].entryAddr, saved->second,
                        std::move(saved->first)});
  }
  RevertReport report;
  report.id = id;
  for (const RecordedFunction &fn : patch->functions)
    report.functions.push_back(fn.name);
  if (opts.dryRun)
    return report;

  Expected<uint64_t> t0 = target.stopAll();
  if (!t0)
    return applyError(ApplyError::Gone, toString(t0.takeError()));
  Error err = Error::success();
  // First every redirect through its gate, then the commit byte cleared:
  // every function back at once, whenever hp-apply may die after.
  if (patch->gatesOffset) {
    for (size_t i = 0; i < restores.size() && !err; ++i) {
      const Restore &r = restores[i];
      uint64_t gate = patch->regionAddr + patch->gatesOffset + i * arch.gateSize();
      Arch::Redirect toGate = arch.encodeRedirect(r.entry, r.site, gate);
      err = target.write(r.entry - shape.padBefore, toGate.pad);
      if (!err)
        err = target.write(r.entry + r.site, toGate.site);
    }
    static constexpr uint8_t zero[] = {0};
    if (!err)
      err = target.write(patch->recordAddr + recCommitOffset, zero);
  }
  // Then the saved bytes: entry first (new calls take the old code again),
  // then the padding.
  for (const Restore &r : restores)
    if (!err)
      err = target.write(r.entry + r.site, ArrayRef<uint8_t>(r.bytes).slice(
                                                shape.padBefore + r.site,
                                                shape.entryNop));
  for (const Restore &r : restores)
    if (!err)
      err = target.write(r.entry - shape.padBefore, r.bytes);
  if (!err) {
    uint8_t state[8];
    le::write64le(state, stateReverted);
    err = target.write(patch->recordAddr + 16, state);
  }
  // The patch stays mapped, code included: a thread may still be running
  // it, and pointers into it (a string literal, a callback, a vtable the
  // new code stored in a global) may outlive the revert; no stack check
  // sees those. The record stays for --list.
  report.pauseNs = target.resumeAll() - *t0;
  if (err)
    return applyError(ApplyError::Failed, toString(std::move(err)));
  return report;
}

} // namespace hotpatch
