//===- runtime/tls.cpp - the patched module's thread-local storage --------===//

#include "tls.h"

#include "apply-error.h"
#include "new-tls.h"

#include "llvm/BinaryFormat/ELF.h"
#include "llvm/Object/ELF.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"

using namespace llvm;
using namespace llvm::object;

namespace hotpatch {

// The auxiliary vector's keys (<elf.h>, whose macros clash with LLVM's).
constexpr uint64_t atNull = 0, atPhdr = 3;

Expected<uint64_t> ModuleTls::value(TlsValue v, uint64_t symAddr) const {
  uint64_t dtpOffset = symAddr - base;
  switch (v) {
  case TlsValue::DtpOffset:
    return dtpOffset;
  case TlsValue::TpOffset:
    if (!tpOffset)
      return createStringError(std::make_error_code(std::errc::not_supported),
                               "the TLS block's offset from the thread pointer "
                               "is unknown: " + noTpOffset);
    return uint64_t(*tpOffset) + dtpOffset;
  case TlsValue::ModuleId:
    if (!moduleId)
      return createStringError(std::make_error_code(std::errc::not_supported),
                               "the TLS module id is unknown: " + noModuleId);
    return *moduleId;
  }
  llvm_unreachable("every TlsValue");
}

ModuleTls deduceModuleTls(const Arch &arch, bool isMain, uint64_t pVaddr,
                          uint64_t pMemsz, uint64_t pAlign,
                          ArrayRef<TlsGotEntry> own, ReadTarget read) {
  ModuleTls tls;
  if (isMain) {
    // The ABI gives the main program module id 1 and puts its block where
    // its linker-resolved local-exec accesses find it.
    tls.moduleId = 1;
    tls.tpOffset = arch.execTlsBlockOffset(pVaddr, pMemsz, pAlign);
    return tls;
  }
  auto word = [](ArrayRef<uint8_t> b, unsigned i) {
    return support::endian::read64le(b.data() + 8 * i);
  };
  bool dynamicDescriptor = false;
  for (const TlsGotEntry &e : own) {
    if (e.kind == TlsFill::ModuleId && !tls.moduleId) {
      std::optional<std::vector<uint8_t>> got = read(e.addr, 8);
      if (got && got->size() == 8 && word(*got, 0) != 0)
        tls.moduleId = word(*got, 0);
    } else if (e.kind == TlsFill::TpOffset && !tls.tpOffset) {
      if (std::optional<std::vector<uint8_t>> got = read(e.addr, 8);
          got && got->size() == 8)
        tls.tpOffset = int64_t(word(*got, 0) - e.dtpOffset);
    } else if (e.kind == TlsFill::Descriptor && !tls.tpOffset) {
      // {function, argument}: a function that returns its argument means
      // the argument is the TP offset (the descriptor ABI's result).
      std::optional<std::vector<uint8_t>> desc = read(e.addr, 16);
      if (!desc || desc->size() != 16)
        continue;
      std::optional<std::vector<uint8_t>> code = read(word(*desc, 0), 16);
      if (code && arch.isTlsDescReturn(*code))
        tls.tpOffset = int64_t(word(*desc, 1) - e.dtpOffset);
      else
        dynamicDescriptor = true;
    }
  }
  if (!tls.moduleId)
    tls.noModuleId = "the library's own code never asks for it (it has no "
                     "resolved module-id relocation, R_*_DTPMOD64, for its "
                     "own thread-local variables)";
  if (!tls.tpOffset)
    tls.noTpOffset =
        dynamicDescriptor
            ? "the library's own descriptors do not resolve to a static "
              "offset: its TLS block is allocated per thread on demand "
              "(dynamic TLS, as for a library loaded by dlopen) or they are "
              "not resolved yet; build the fix with general- or "
              "local-dynamic accesses (-mtls-dialect=gnu)"
            : "the library's own code never uses it (it has no resolved "
              "initial-exec or static descriptor relocation for its own "
              "thread-local variables)";
  return tls;
}

std::optional<uint64_t> auxvValue(ArrayRef<uint8_t> auxv, uint64_t type) {
  for (size_t at = 0; at + 16 <= auxv.size(); at += 16) {
    uint64_t key = support::endian::read64le(auxv.data() + at);
    if (key == atNull)
      break;
    if (key == type)
      return support::endian::read64le(auxv.data() + at + 8);
  }
  return std::nullopt;
}

namespace {

/// The module's own resolved dynamic TLS relocations (a few of each kind:
/// one readable is enough).
std::vector<TlsGotEntry> ownTlsGotEntries(const ELFFile<ELF64LE> &file,
                                          const Arch &arch, uint64_t base) {
  std::vector<TlsGotEntry> out;
  Expected<ELF64LE::ShdrRange> shdrs = file.sections();
  if (!shdrs) {
    consumeError(shdrs.takeError());
    return out;
  }
  const TlsFill kinds[] = {TlsFill::ModuleId, TlsFill::TpOffset,
                           TlsFill::Descriptor};
  unsigned perKind[3] = {0, 0, 0};
  for (const auto &sh : *shdrs) {
    if (sh.sh_type != ELF::SHT_RELA || !(sh.sh_flags & ELF::SHF_ALLOC))
      continue;
    Expected<ELF64LE::RelaRange> relas = file.relas(sh);
    Expected<const ELF64LE::Shdr *> symtab = file.getSection(sh.sh_link);
    if (!relas || !symtab) {
      if (!relas)
        consumeError(relas.takeError());
      if (!symtab)
        consumeError(symtab.takeError());
      continue;
    }
    for (const auto &r : *relas) {
      uint32_t type = r.getType(/*isMips64EL=*/false);
      unsigned k = 0;
      while (k < 3 && arch.tlsFillType(kinds[k]) != type)
        ++k;
      if (k == 3 || perKind[k] >= 4)
        continue;
      uint64_t value = 0;
      if (r.getSymbol(/*isMips64EL=*/false) != 0) {
        Expected<const ELF64LE::Sym *> sym = file.getRelocationSymbol(r, *symtab);
        if (!sym) {
          consumeError(sym.takeError());
          continue;
        }
        if ((*sym)->st_shndx == ELF::SHN_UNDEF)
          continue; // another module's variable
        value = (*sym)->st_value;
      }
      ++perKind[k];
      out.push_back({kinds[k], base + r.r_offset, value + r.r_addend});
    }
  }
  return out;
}

const char *whatNeeds(TlsValue v) {
  switch (v) {
  case TlsValue::TpOffset:
    return "its offset from the thread pointer";
  case TlsValue::DtpOffset:
    return "its offset in the module's TLS block";
  case TlsValue::ModuleId:
    return "the module's TLS id";
  }
  llvm_unreachable("every TlsValue");
}

} // namespace

Expected<std::optional<ModuleTls>> planTls(const PatchFile &patch,
                                           const Arch &arch,
                                           const Module &module,
                                           const Target &target) {
  // The first symbol needing each value, for the message.
  std::optional<uint32_t> needs[3];
  for (unsigned s = 0; s < numPatchSections; ++s)
    for (const PatchReloc &r : patch.relocs[s])
      if (std::optional<TlsValue> v = arch.tlsValue(r.type))
        if (!needs[unsigned(*v)] && !isNewTls(patch.symbols[r.symbol]))
          needs[unsigned(*v)] = r.symbol;
  std::optional<uint32_t> any =
      needs[0] ? needs[0] : needs[1] ? needs[1] : needs[2];
  if (!any)
    return std::nullopt;
  auto varName = [&](uint32_t sym) { return patch.symbols[sym].refName; };

  ErrorOr<std::unique_ptr<MemoryBuffer>> buf =
      MemoryBuffer::getFile(module.mapFile, /*IsText=*/false, false);
  if (!buf)
    return applyError(ApplyError::Failed,
                      formatv("reading {0}: {1}", module.path, buf.getError().message()));
  Expected<ELFFile<ELF64LE>> file = ELFFile<ELF64LE>::create((*buf)->getBuffer());
  if (!file)
    return applyError(ApplyError::Failed, formatv("reading {0}: {1}", module.path,
                                                  toString(file.takeError())));
  std::optional<ELF64LE::Phdr> tlsHeader;
  if (Expected<ELF64LE::PhdrRange> phdrs = file->program_headers()) {
    for (const auto &ph : *phdrs)
      if (ph.p_type == ELF::PT_TLS)
        tlsHeader = ph;
  } else {
    consumeError(phdrs.takeError());
  }
  if (!tlsHeader)
    return applyError(ApplyError::Refused,
                      formatv("the patch accesses thread-local variable '{0}', "
                              "but {1} has no thread-local storage (PT_TLS)",
                              varName(*any), module.path));

  // The main program is the module holding the program headers the kernel
  // told the process about (AT_PHDR): a PIE is ET_DYN like any library.
  bool isMain = module.isExec;
  if (ErrorOr<std::unique_ptr<MemoryBuffer>> auxv = MemoryBuffer::getFileAsStream(
          formatv("/proc/{0}/auxv", target.procId()).str())) {
    ArrayRef<uint8_t> bytes((const uint8_t *)(*auxv)->getBufferStart(),
                            (*auxv)->getBufferSize());
    if (std::optional<uint64_t> phdr = auxvValue(bytes, atPhdr))
      isMain = *phdr >= module.start && *phdr < module.end;
  }
  auto read = [&](uint64_t addr, size_t len) -> std::optional<std::vector<uint8_t>> {
    std::vector<uint8_t> out(len);
    if (Error err = target.read(addr, out)) {
      consumeError(std::move(err));
      return std::nullopt;
    }
    return out;
  };
  std::vector<TlsGotEntry> own =
      isMain ? std::vector<TlsGotEntry>{} : ownTlsGotEntries(*file, arch, module.base);
  ModuleTls tls = deduceModuleTls(arch, isMain, tlsHeader->p_vaddr,
                                  tlsHeader->p_memsz, tlsHeader->p_align, own, read);
  tls.base = module.base;
  for (TlsValue v : {TlsValue::TpOffset, TlsValue::DtpOffset, TlsValue::ModuleId})
    if (std::optional<uint32_t> sym = needs[unsigned(v)])
      if (Expected<uint64_t> ok = tls.value(v, module.base); !ok)
        return applyError(ApplyError::Refused,
                          formatv("the patch needs {0} for thread-local "
                                  "variable '{1}' of {2}; {3}", whatNeeds(v),
                                  varName(*sym), module.path,
                                  toString(ok.takeError())));
  return tls;
}

} // namespace hotpatch
