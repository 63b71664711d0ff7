//===- runtime/new-tls.cpp - thread-local variables a patch adds ----------===//
//
// Why dlopen on a borrowed thread is safe: the other threads keep running,
// so a loader or allocator lock one of them holds is released; a lock the
// borrowed thread itself holds is the danger. ld.so's own lock is
// recursive, so a thread stopped inside ld.so (in the middle of a dlopen,
// say) would let our dlopen in on half-updated lists: a thread with a frame
// in ld.so is never used. A non-recursive lock it holds (malloc's, in
// a signal handler) makes our call wait: after a second the call is taken
// back unchanged (Target::call's patience) and tried again once the
// threads ran on.
//
//===----------------------------------------------------------------------===//

#include "new-tls.h"

#include "apply-error.h"
#include "target.h"
#include "tls-module.h"
#include "unwind.h"

#include "llvm/Support/Endian.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"

#include <fcntl.h>
#include <unistd.h>

using namespace llvm;

namespace hotpatch {
using namespace linuxabi;

namespace {

// The auxiliary vector's key for the dynamic loader's base (<elf.h>).
constexpr uint64_t atBase = 7;
// <dlfcn.h> and <sys/mman.h> values, the same on both machines.
constexpr uint64_t rtldNow = 0x2, rtldNodelete = 0x1000;

struct TlsFacts {
  int64_t tpOffset = 0;
  uint64_t moduleId = 0;
};

/// The facts ld.so wrote into the library loaded at \p base.
Expected<TlsFacts> readFacts(const Target &target, uint64_t base, StringRef name) {
  uint8_t words[16];
  if (Error err = target.read(base + tlsModuleFactsOffset, words))
    return applyError(ApplyError::Failed, formatv("reading {0}: {1}", name,
                                                  toString(std::move(err))));
  TlsFacts f{int64_t(support::endian::read64le(words)),
             support::endian::read64le(words + 8)};
  if (f.tpOffset == 0 || f.moduleId == 0)
    return applyError(ApplyError::Failed,
                      formatv("{0} is loaded but its TLS facts are unset", name));
  return f;
}

/// Where the process has the library named \p name mapped, if it has it.
std::optional<uint64_t> loadedAt(const std::vector<Mapping> &maps, StringRef name) {
  std::string file = ("/memfd:" + name).str();
  for (const Mapping &m : maps) {
    StringRef path = m.path;
    if (m.fileOffset == 0 && path.consume_front(file) &&
        (path.empty() || path == " (deleted)"))
      return m.start;
  }
  return std::nullopt;
}

/// The dynamic loader's address range in the process, from AT_BASE; none
/// in a static executable.
std::optional<std::pair<uint64_t, uint64_t>> loaderRange(const Target &target,
                                                          const SymbolContext &symbols) {
  ErrorOr<std::unique_ptr<MemoryBuffer>> auxv = MemoryBuffer::getFileAsStream(
      formatv("/proc/{0}/auxv", target.procId()).str());
  if (!auxv)
    return std::nullopt;
  std::optional<uint64_t> base =
      auxvValue(ArrayRef<uint8_t>((const uint8_t *)(*auxv)->getBufferStart(),
                                  (*auxv)->getBufferSize()),
                atBase);
  if (!base || !*base)
    return std::nullopt;
  for (const Module &m : symbols.modules)
    if (m.start <= *base && *base < m.end)
      return std::make_pair(m.start, m.end);
  return std::nullopt;
}

/// One try at having the borrowed thread load \p lib: the base ld.so
/// loaded it at. An InjectedCallStuck error means nothing happened and a
/// later try may do.
Expected<uint64_t> loadOnce(Target &target, const Arch &arch, ArrayRef<uint8_t> lib,
                            StringRef name, uint64_t dlopenAddr,
                            std::optional<uint64_t> dlerrorAddr) {
  Expected<int64_t> scratch = target.syscall(
      arch.sysMmap(),
      {0, systemPageSize(), protRead | protWrite, mapPrivate | mapAnonymous, uint64_t(-1), 0});
  if (!scratch)
    return scratch.takeError();
  if (isErrno(*scratch))
    return createStringError(std::error_code(int(-*scratch), std::generic_category()),
                             "mmap in the target");
  uint64_t at = uint64_t(*scratch);
  auto cleanUp = [&](std::optional<int64_t> fd) {
    if (fd)
      consumeError(target.syscall(arch.sysClose(), {uint64_t(*fd)}).takeError());
    consumeError(target.syscall(arch.sysMunmap(), {at, systemPageSize()}).takeError());
  };
  std::string nameZ = name.str();
  if (Error err = target.write(at, {(const uint8_t *)nameZ.c_str(), nameZ.size() + 1})) {
    cleanUp(std::nullopt);
    return std::move(err);
  }
  Expected<int64_t> fd = target.syscall(arch.sysMemfdCreate(), {at, mfdCloexec});
  if (!fd || *fd < 0) {
    cleanUp(std::nullopt);
    if (!fd)
      return fd.takeError();
    return createStringError(std::error_code(int(-*fd), std::generic_category()),
                             "memfd_create in the target");
  }
  // The target's memfd, opened through /proc: our write is its content.
  std::string procPath = formatv("/proc/{0}/fd/{1}", target.procId(), *fd).str();
  int ours = ::open(procPath.c_str(), O_WRONLY | O_CLOEXEC);
  bool written = ours >= 0 && ::write(ours, lib.data(), lib.size()) == ssize_t(lib.size());
  int writeErrno = errno;
  if (ours >= 0)
    ::close(ours);
  if (!written) {
    cleanUp(*fd);
    return createStringError(std::error_code(writeErrno, std::generic_category()),
                             "writing %s", procPath.c_str());
  }
  std::string path = formatv("/proc/self/fd/{0}", *fd).str();
  uint64_t pathAt = at + 256;
  if (Error err = target.write(pathAt, {(const uint8_t *)path.c_str(), path.size() + 1})) {
    cleanUp(*fd);
    return std::move(err);
  }
  constexpr uint64_t patienceNs = 1000000000;
  Expected<uint64_t> handle =
      target.call(dlopenAddr, {pathAt, rtldNow | rtldNodelete}, patienceNs);
  if (!handle) {
    cleanUp(*fd);
    return handle.takeError();
  }
  std::string why;
  if (*handle == 0 && dlerrorAddr) {
    if (Expected<uint64_t> msg = target.call(*dlerrorAddr, {}, patienceNs); msg && *msg) {
      std::vector<uint8_t> text(512, 0);
      for (size_t n = text.size(); n >= 64; n /= 2) { // (the end of a mapping)
        Error err = target.read(*msg, MutableArrayRef<uint8_t>(text.data(), n));
        if (!err) {
          why = std::string((const char *)text.data(), strnlen((const char *)text.data(), n));
          break;
        }
        consumeError(std::move(err));
      }
    } else if (!msg) {
      consumeError(msg.takeError());
    }
  }
  cleanUp(*fd);
  if (*handle == 0)
    return applyError(ApplyError::Refused,
                      formatv("the target's dynamic loader would not load the "
                              "patch's thread-local storage: {0}",
                              why.empty() ? "dlopen failed" : why));
  // dlopen's handle is the library's link_map, whose first member (the
  // public part of <link.h>) is its load address.
  uint8_t word[8];
  if (Error err = target.read(*handle, word))
    return std::move(err);
  return support::endian::read64le(word);
}

/// Whether the borrowed thread has a frame in the dynamic loader (or its
/// stack cannot be walked to tell).
bool inLoader(Target &target, Unwinder &unwinder, std::pair<uint64_t, uint64_t> ldso) {
  unwinder.newStop(1);
  std::vector<uint64_t> pcs;
  if (Error err = unwinder.backtrace(target.borrowedThread(), pcs)) {
    consumeError(std::move(err));
    return true;
  }
  return llvm::any_of(pcs, [&](uint64_t pc) { return pc >= ldso.first && pc < ldso.second; });
}

} // namespace

std::string newTlsName(const PatchFile &patch) {
  std::string name = "hotpatch-tls-";
  raw_string_ostream os(name);
  os << format_hex_no_prefix(patch.checksum, 16);
  return name;
}

namespace {

/// \p patch's .hp.tls with the addresses its relocations name written in.
Expected<std::vector<uint8_t>> relocatedImage(const Arch &arch, const PatchFile &patch,
                                              const std::vector<uint64_t> &symAddr) {
  std::vector<uint8_t> image = patch.sections[unsigned(PatchSection::Tls)];
  for (const PatchReloc &r : patch.relocs[unsigned(PatchSection::Tls)]) {
    // (Absolute addresses only, hp-diff made sure: no place to be relative to.)
    if (r.offset + arch.relocExtent(r.type).second > image.size())
      return applyError(ApplyError::Refused,
                        formatv("relocation at .hp.tls+{0:x} runs past the "
                                "section; the patch is malformed", r.offset));
    if (Error err = arch.applyReloc(r.type, image.data() + r.offset, 0,
                                    symAddr[r.symbol], r.addend))
      return applyError(ApplyError::Failed,
                        formatv("relocation against '{0}': {1}",
                                patch.symbols[r.symbol].name, toString(std::move(err))));
  }
  return image;
}

/// The first variable the patch adds, for messages.
std::string firstNewVariable(const PatchFile &patch) {
  for (const PatchSymbol &s : patch.symbols)
    if (isNewTls(s))
      return s.name;
  return "?";
}

/// Has the target's ld.so load \p lib (named \p name) on a borrowed
/// thread, trying again while the thread it borrows is in ld.so or waits
/// on a lock; the library's load address.
Expected<uint64_t> loadLibrary(Target &target, const Arch &arch, const PatchFile &patch,
                               SymbolContext symbols, ArrayRef<uint8_t> lib,
                               StringRef name, uint64_t &stopNs) {
  std::optional<std::pair<uint64_t, uint64_t>> ldso = loaderRange(target, symbols);
  std::optional<FoundSymbol> dlopenFn = findInProcess(symbols, "dlopen");
  if (!ldso || !dlopenFn)
    return applyError(ApplyError::Refused,
                      formatv("the patch adds thread-local variable '{0}', and "
                              "{1} has no dynamic loader{2} to give every "
                              "thread a copy of it",
                              firstNewVariable(patch),
                              ldso ? "the process" : "a static executable",
                              ldso ? " with dlopen" : ""));
  std::optional<uint64_t> dlerrorAddr;
  if (std::optional<FoundSymbol> f = findInProcess(symbols, "dlerror"))
    dlerrorAddr = f->addr;
  Expected<std::unique_ptr<Unwinder>> unwinder = Unwinder::create(target.procId());
  if (!unwinder)
    return applyError(ApplyError::Failed, toString(unwinder.takeError()));
  constexpr unsigned tries = 5;
  for (unsigned attempt = 1;; ++attempt) {
    Expected<StoppedThreads> borrowed = target.borrowOne();
    if (!borrowed)
      return applyError(ApplyError::Gone, toString(borrowed.takeError()));
    bool busy = inLoader(target, **unwinder, *ldso);
    Expected<uint64_t> loaded =
        busy ? Expected<uint64_t>(uint64_t(0))
             : loadOnce(target, arch, lib, name, dlopenFn->addr, dlerrorAddr);
    stopNs += borrowed->resume() - borrowed->startNs();
    if (loaded && !busy)
      return *loaded;
    if (!loaded)
      if (Error err = handleErrors(loaded.takeError(), [](const InjectedCallStuck &) {}))
        return asApplyError(ApplyError::Failed, std::move(err));
    if (attempt == tries)
      return applyError(ApplyError::Busy,
                        formatv("no thread could load the patch's thread-local "
                                "storage in {0} tries: the one borrowed was in "
                                "the dynamic loader or waited on its lock; "
                                "nothing was changed",
                                tries));
    target.sleepServing(10000);
  }
}

/// The offset of the patched module's TLS block from the thread pointer
/// when that block is static (a library loaded at start-up), found by
/// asking the target's __tls_get_addr on a borrowed thread where its block
/// is: a static block lies in the memory holding the thread's own thread
/// block (glibc puts both in one allocation: the top of a thread's stack
/// mapping, or the main thread's start-up block), a dynamic one (a library
/// loaded by dlopen) in malloc's. \p room: 16 bytes of the new library
/// for the tls_index. Nullopt when the block is dynamic or cannot be
/// found; \p why says which.
std::optional<int64_t> staticBlockOffset(Target &target, SymbolContext symbols,
                                         const ModuleTls &moduleTls, uint64_t room,
                                         uint64_t &stopNs, std::string &why) {
  std::optional<FoundSymbol> getAddr = findInProcess(symbols, "__tls_get_addr");
  if (!moduleTls.moduleId || !getAddr) {
    why = moduleTls.moduleId ? "the process has no __tls_get_addr" : moduleTls.noModuleId;
    return std::nullopt;
  }
  uint8_t index[16] = {};
  support::endian::write64le(index, *moduleTls.moduleId);
  if (Error err = target.write(room, index)) {
    why = toString(std::move(err));
    return std::nullopt;
  }
  Expected<StoppedThreads> borrowed = target.borrowOne();
  if (!borrowed) {
    why = toString(borrowed.takeError());
    return std::nullopt;
  }
  UnwindRegisters regs;
  Error regsErr = unwindRegisters(target.borrowedThread(), regs);
  Expected<uint64_t> block =
      regsErr ? Expected<uint64_t>(std::move(regsErr))
              : target.call(getAddr->addr, {room}, /*patienceNs=*/1000000000);
  stopNs += borrowed->resume() - borrowed->startNs();
  if (!block) {
    why = "asking __tls_get_addr failed: " + toString(block.takeError());
    return std::nullopt;
  }
  Expected<std::vector<Mapping>> maps = target.mappings();
  if (!maps || !regs.threadPointer) {
    if (!maps)
      consumeError(maps.takeError());
    why = "the thread pointer could not be read";
    return std::nullopt;
  }
  auto holding = [&](uint64_t addr) {
    return llvm::find_if(*maps, [&](const Mapping &m) { return m.start <= addr && addr < m.end; });
  };
  auto at = holding(*block);
  if (at == maps->end() || at != holding(regs.threadPointer)) {
    why = "its TLS block is dynamic (allocated per thread on first use, as "
          "for a library loaded by dlopen)";
    return std::nullopt;
  }
  return int64_t(*block - regs.threadPointer);
}

/// How patched code addresses the new variables, given where ld.so put
/// their block (\p facts) and what is known of the module's own.
Expected<ModuleTls> addressing(const Arch &arch, const PatchFile &patch,
                               const Module &module, const ModuleTls *moduleTls,
                               const TlsFacts &facts) {
  ModuleTls out;
  if (moduleTls && moduleTls->tpOffset) {
    // The module's block is static: a new variable is the module's at a
    // block offset past (or before) its own, the same in every thread.
    out = *moduleTls;
    out.base = uint64_t(*moduleTls->tpOffset - facts.tpOffset);
    return out;
  }
  out.base = 0;
  out.tpOffset = facts.tpOffset;
  out.moduleId = facts.moduleId;
  if (!moduleTls)
    return out;
  // Local-dynamic code adds block offsets to one base per function; with
  // two blocks, one of unknown place, old and new cannot share it.
  for (unsigned s = 0; s < numPatchSections; ++s)
    for (const PatchReloc &r : patch.relocs[s])
      if (PatchSection(s) != PatchSection::Got &&
          arch.tlsValue(r.type) == TlsValue::DtpOffset && isNewTls(patch.symbols[r.symbol]))
        return applyError(ApplyError::Refused,
                          formatv("the patch reaches new thread-local variable "
                                  "'{0}' and existing ones of {1} by local-dynamic "
                                  "offsets, and the offset of {1}'s TLS block from "
                                  "the thread pointer is unknown: {2}",
                                  patch.symbols[r.symbol].name, module.path,
                                  moduleTls->noTpOffset));
  return out;
}

} // namespace

Expected<std::optional<ModuleTls>>
loadNewTls(Target &target, const Arch &arch, const PatchFile &patch,
           SymbolContext symbols, const std::vector<uint64_t> &symAddr,
           const ModuleTls *moduleTls, uint64_t &stopNs) {
  if (patch.sections[unsigned(PatchSection::Tls)].empty())
    return std::nullopt;
  std::string name = newTlsName(patch);
  Expected<std::vector<Mapping>> maps = target.mappings();
  if (!maps)
    return applyError(ApplyError::Gone, toString(maps.takeError()));
  std::optional<uint64_t> base = loadedAt(*maps, name);
  if (!base) {
    Expected<std::vector<uint8_t>> image = relocatedImage(arch, patch, symAddr);
    if (!image)
      return image.takeError();
    std::vector<uint8_t> lib = buildTlsModule(
        {arch.eMachine(), arch.tlsFillType(TlsFill::TpOffset),
         arch.tlsFillType(TlsFill::ModuleId), name + ".so", *image,
         patch.align[unsigned(PatchSection::Tls)]});
    Expected<uint64_t> loaded =
        loadLibrary(target, arch, patch, symbols, lib, name, stopNs);
    if (!loaded)
      return loaded.takeError();
    base = *loaded;
  }
  Expected<TlsFacts> facts = readFacts(target, *base, name);
  if (!facts)
    return facts.takeError();
  // The module's own block offset, when its code never asked ld.so for it.
  std::optional<ModuleTls> known;
  if (moduleTls && !moduleTls->tpOffset) {
    known = *moduleTls;
    std::string why;
    known->tpOffset = staticBlockOffset(target, symbols, *moduleTls,
                                        *base + tlsModuleIndexRoom, stopNs, why);
    if (!known->tpOffset)
      known->noTpOffset = why;
    moduleTls = &*known;
  }
  Expected<ModuleTls> out = addressing(arch, patch, symbols.module, moduleTls, *facts);
  if (!out)
    return out.takeError();
  return std::optional<ModuleTls>(std::move(*out));
}

} // namespace hotpatch
