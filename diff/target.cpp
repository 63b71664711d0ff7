//===- diff/target.cpp - stage 5: the patch against the running binary ----===//
//
// With --target (or two linked binaries), every symbol the patch reaches in
// the running module and every replaced function's old entry is resolved to
// a module offset in the linked original, whose build-id the patch then
// carries; each replaced function's bytes there must be the old objects'
// (else the target is another build). Every missing or ambiguous symbol and
// every differing function is refused, not only the first.
//
//===----------------------------------------------------------------------===//

#include "differ-state.h"

#include "elf-info.h"

#include "llvm/Object/ELF.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

using namespace llvm;
using namespace llvm::object;

namespace hotpatch {

namespace {

using ELFT = ELF64LE;

/// The linked original, read for its symbols and code.
class TargetBinary {
public:
  static Expected<std::unique_ptr<TargetBinary>> open(StringRef path,
                                                      uint16_t eMachine);
  uint16_t type() const { return file->getHeader().e_type; }
  std::string buildId() const { return buildIdOf(*file); }
  /// The offset of \p name: file-local to \p source when that is given,
  /// else a global, which the linker may have made local (hidden
  /// visibility); \p definedIn, the base name of the file that defines
  /// it when known, tells it from the statics of other files.
  Expected<uint64_t> lookup(StringRef name, StringRef source,
                            StringRef definedIn) const;
  /// \p len bytes at address \p addr, if a section holds them all.
  std::optional<ArrayRef<uint8_t>> bytesAt(uint64_t addr, size_t len) const;

private:
  std::string path;
  std::unique_ptr<MemoryBuffer> buf;
  std::optional<ELFFile<ELFT>> file;
  typename ELFT::ShdrRange shdrs;
  SymbolIndex index;
};

Expected<std::unique_ptr<TargetBinary>> TargetBinary::open(StringRef path,
                                                           uint16_t eMachine) {
  auto me = std::make_unique<TargetBinary>();
  me->path = path.str();
  ErrorOr<std::unique_ptr<MemoryBuffer>> buf = MemoryBuffer::getFile(
      path, /*IsText=*/false, /*RequiresNullTerminator=*/false);
  if (!buf)
    return badInput(path, buf.getError().message());
  me->buf = std::move(*buf);
  Expected<ELFFile<ELFT>> file = ELFFile<ELFT>::create(me->buf->getBuffer());
  if (!file)
    return badInput(path, "not a readable ELF file: " + toString(file.takeError()));
  me->file.emplace(std::move(*file));
  const auto &hdr = me->file->getHeader();
  if (hdr.e_type != ELF::ET_EXEC && hdr.e_type != ELF::ET_DYN)
    return refuse(path, "not a linked executable or shared library");
  if (hdr.e_machine != eMachine)
    return refuse(path, formatv("is {0}, the patch is for {1}",
                                machineName(hdr.e_machine), machineName(eMachine)));
  Expected<typename ELFT::ShdrRange> shdrs = me->file->sections();
  if (!shdrs)
    return badInput(path, "unreadable sections");
  me->shdrs = *shdrs;
  if (llvm::none_of(*shdrs, [](const auto &sh) { return sh.sh_type == ELF::SHT_SYMTAB; }))
    return refuse(path, "has no symbol table (stripped); give the "
                        "unstripped build as --target, the running copy "
                        "may be stripped");
  Expected<SymbolIndex> index = indexSymbols(*me->file, /*bias=*/0);
  if (!index)
    return badInput(path, "unreadable symbol table: " + toString(index.takeError()));
  me->index = std::move(*index);
  return me;
}

Expected<uint64_t> TargetBinary::lookup(StringRef name, StringRef source,
                                        StringRef definedIn) const {
  if (source.empty()) {
    SmallVector<uint64_t, 1> found = index.findGlobal(name, definedIn);
    if (found.size() == 1)
      return found.front();
    if (found.empty())
      return refuse(path, formatv("has no global symbol '{0}', nor one the "
                                  "linker made local", name));
    return refuse(path, formatv("has {0} symbols '{1}' the linker made local "
                                "(hidden visibility); they cannot be told "
                                "apart", found.size(), name));
  }
  auto it = index.locals.find({source.str(), name.str()});
  if (it == index.locals.end())
    return refuse(path,
                  formatv("has no file-local symbol '{0}' from {1}", name, source));
  if (it->second.size() > 1)
    return refuse(path,
                  formatv("has {0} file-local symbols '{1}' from files named "
                          "{2}; they cannot be told apart",
                          it->second.size(), name, source));
  return it->second.front();
}

std::optional<ArrayRef<uint8_t>> TargetBinary::bytesAt(uint64_t addr,
                                                       size_t len) const {
  for (const auto &sh : shdrs) {
    if (!(sh.sh_flags & ELF::SHF_ALLOC) || sh.sh_type == ELF::SHT_NOBITS ||
        addr < sh.sh_addr || addr + len > sh.sh_addr + sh.sh_size)
      continue;
    Expected<ArrayRef<uint8_t>> data = file->getSectionContents(sh);
    if (!data) {
      consumeError(data.takeError());
      return std::nullopt;
    }
    return data->slice(addr - sh.sh_addr, len);
  }
  return std::nullopt;
}

/// Whether the linked code of an old function at \p entry is the old
/// object's \p sym of \p o, but for the bytes the linker fills in
/// (relocations) or may rewrite (relaxation).
bool sameCode(const TargetBinary &target, const Arch &arch, uint64_t entry,
              const Object &o, const Symbol &sym) {
  const Section &sec = o.sections[sym.shndx];
  std::optional<ArrayRef<uint8_t>> linked = target.bytesAt(entry, sym.size);
  if (!linked || sym.value + sym.size > sec.data.size())
    return false;
  std::vector<uint8_t> want(sec.data.begin() + sym.value,
                            sec.data.begin() + sym.value + sym.size);
  std::vector<uint8_t> have(linked->begin(), linked->end());
  for (const Reloc &r : sec.relocs) {
    auto [before, after] = arch.relocExtent(r.type);
    for (int64_t k = int64_t(r.offset) - before; k < int64_t(r.offset + after);
         ++k) {
      int64_t at = k - int64_t(sym.value);
      if (at >= 0 && at < int64_t(want.size()))
        want[at] = have[at] = 0;
    }
  }
  return want == have;
}

} // namespace

void Differ::resolveAgainstTarget() {
  Expected<std::unique_ptr<TargetBinary>> target =
      TargetBinary::open(targetPath, patch.eMachine);
  if (!target)
    return refusals.add(target.takeError());
  patch.buildId = (*target)->buildId();
  patch.targetName = sys::path::filename(targetPath).str();
  patch.targetIsExec = (*target)->type() == ELF::ET_EXEC;

  // The old file defining a global, whose symbols the linker may have
  // listed as its locals.
  auto definedIn = [&](StringRef name) -> std::string {
    if (const Object *o = oldFnOwner.lookup(name))
      return o->source();
    if (const Object *o = oldVarOwner.lookup(name))
      return o->source();
    return "";
  };
  for (PatchSymbol &sym : patch.symbols) {
    if (sym.defined || !sym.refInModule || sym.refName == tlsModuleBaseName)
      continue; // (the module's TLS block: no symbol, found by the loader)
    Expected<uint64_t> off =
        (*target)->lookup(sym.refName, sym.refSource,
                          sym.refSource.empty() ? definedIn(sym.refName) : "");
    if (off)
      sym.refOffset = *off;
    else if (refusals.isFirst("target " + sym.refName + "\x01" + sym.refSource))
      refusals.add(off.takeError());
    else
      consumeError(off.takeError());
  }
  bool targetIsOld = targetPath == opts.oldBinary;
  for (FunctionMapEntry &fn : patch.functions) {
    auto origin = origins.find(fn.oldName + "\x01" + fn.oldSource);
    std::string owner = fn.oldSource.empty() && origin != origins.end()
                            ? origin->second.first->source()
                            : "";
    Expected<uint64_t> entry =
        (*target)->lookup(fn.oldName, fn.oldSource, owner);
    if (!entry) {
      if (refusals.isFirst("target " + fn.oldName + "\x01" + fn.oldSource))
        refusals.add(entry.takeError());
      else
        consumeError(entry.takeError());
      continue;
    }
    fn.oldOffset = *entry;
    uint64_t start = *entry - arch->prologue().padBefore;
    std::optional<ArrayRef<uint8_t>> bytes =
        (*target)->bytesAt(start, fn.expected.size());
    bool same = bytes && bytes->equals(fn.expected);
    bool inlineCopy = false;
    if (same && origin != origins.end() && !targetIsOld) {
      // A global defined in several files (an inline function, a
      // template: each file compiles its own copy, maybe optimised
      // differently) is the target's if any old copy is the one the
      // linker kept.
      const Object &first = *origin->second.first;
      const Symbol &firstSym = first.symbols[origin->second.second];
      same = sameCode(**target, *arch, *entry, first, firstSym);
      inlineCopy = firstSym.binding == ELF::STB_WEAK;
      if (!same && fn.oldSource.empty())
        for (const auto &o : oldObjs) {
          if (!o || o.get() == &first)
            continue;
          auto it = o->defined.find(fn.oldName);
          if (it == o->defined.end() || o->isLocal(it->second) ||
              o->symbols[it->second].shndx >= o->sections.size())
            continue;
          if ((same = sameCode(**target, *arch, *entry, *o, o->symbols[it->second])))
            break;
        }
    }
    if (!same)
      addRefusal(targetPath,
                 inlineCopy
                     ? formatv("function '{0}' in the target is not the copy of it "
                               "the old objects given have (an inline function: "
                               "each file compiles its own, and the linker kept "
                               "another's); give hp-diff every file that defines it",
                               fn.oldName)
                     : formatv("function '{0}' is not the code the old objects "
                               "have: the target is a different build", fn.oldName));
  }
}

} // namespace hotpatch
