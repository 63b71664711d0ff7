//===- diff/tls.cpp - stage 4: thread-local accesses ----------------------===//
//
// A patch reaches the thread-local variables its module already has with
// the module's own access sequences, unchanged: only what they address
// moves into the patch. Local-exec and local-dynamic offsets stay
// relocations against the variable (the loader knows the module's TLS
// block); initial-exec, general- and local-dynamic and descriptor
// sequences address the patch's own GOT entries (`.hp.got`), which the
// loader fills with the TP offset, the tls_index {module id, offset}, or a
// static TLS descriptor (docs/patch-format.md, "Thread-local storage").
//
// A thread-local variable the patch adds lives in `.hp.tls`, the initial
// image of a TLS block hp-apply has the target's dynamic loader give every
// thread; its accesses are written the same way, against its symbol there.
//
// Refused here: thread-local variables of other modules, accesses by
// section offset, and accesses in code cut from a linked binary (the
// linker relaxed their sequences; the objects have them as compiled).
//
//===----------------------------------------------------------------------===//

#include "differ-state.h"

#include "llvm/Support/FormatVariadic.h"

using namespace llvm;

namespace hotpatch {

void Differ::retargetTls(SectionRef at, const Reloc &r, const Target &t) {
  size_t objIndex = at.first;
  uint32_t secIndex = at.second;
  const Object &obj = *newObjs[objIndex];
  const Section &sec = obj.sections[secIndex];
  std::string what =
      t.kind == Target::Anon ? obj.sections[t.section].name.str() : t.name;
  auto refuse = [&](const Twine &why) {
    if (refusals.isFirst(formatv("tls {0} {1} {2} {3}", objIndex, secIndex,
                                 what, r.type)))
      addRefusal(obj.source(), formatv("{0} accesses thread-local variable "
                                       "'{1}' ({2}): {3}", ownerOf(obj, secIndex),
                                       what, arch->relocName(r.type), why.str()));
  };
  if (sec.linked)
    return refuse("in a linked binary the linker may have rewritten the "
                  "access sequence (TLS relaxation), which hp-diff does not "
                  "undo; diff the objects");
  std::optional<TlsAccess> access = arch->tlsAccess(r.type);
  if (!access)
    return refuse("hp-diff does not handle this thread-local relocation");
  if (access->use == TlsUse::Marker)
    return; // (the descriptor call: nothing to write)
  if (t.kind == Target::Anon)
    return refuse("the code names it by section offset, not by symbol");
  std::optional<uint32_t> target = tlsTarget(at, r, t);
  if (!target)
    return;
  auto [where, base] = placed.at(at);
  if (where == PatchSection::Bss)
    return refuse("relocation in zero-initialized data");
  if (access->use == TlsUse::TpOffset || access->use == TlsUse::DtpOffset) {
    patch.relocs[unsigned(where)].push_back(
        PatchReloc{base + r.offset, r.type, *target, r.addend + t.addendAdjust});
    return;
  }
  // The addend stays with the instruction: on x86_64 it is the distance to
  // the instruction's end (-4), as for any PC32 to a GOT entry.
  patch.relocs[unsigned(where)].push_back(
      PatchReloc{base + r.offset, access->slotAccessType,
                 tlsSlotFor(*target, access->use), r.addend});
}

/// The patch symbol naming the thread-local variable relocation \p r of
/// \p at accesses: always one of the running module's (refs flagged "in
/// the module"); none when refused.
std::optional<uint32_t> Differ::tlsTarget(SectionRef at, const Reloc &r,
                                          const Target &t) {
  auto [objIndex, secIndex] = at;
  const Object &obj = *newObjs[objIndex];
  if (t.kind == Target::Undefined && t.name == tlsModuleBaseName)
    return refSymbol(tlsModuleBaseName, "", /*inModule=*/true);
  bool external = false;
  std::optional<uint32_t> target =
      namedTarget(at, r, t, RelocKind::Absolute, external);
  if (!target)
    return std::nullopt;
  const PatchSymbol &sym = patch.symbols[*target];
  if (sym.defined && sym.section == PatchSection::Tls)
    return target; // a variable the patch adds
  if (external || sym.defined) {
    if (refusals.isFirst(formatv("tls external {0} {1}", objIndex, t.name)))
      addRefusal(obj.source(),
                 formatv("{0} accesses thread-local variable '{1}', which is "
                         "not defined in the patched module; a patch reaches "
                         "only its own module's thread-local storage",
                         ownerOf(obj, secIndex), t.name));
    return std::nullopt;
  }
  return target;
}

/// The GOT entry a TLS access sequence of kind \p use addresses for
/// \p target, made once: 8 bytes (a TP offset) or 16 (a tls_index or a
/// descriptor), each word filled by one relocation of the patch.
uint32_t Differ::tlsSlotFor(uint32_t target, TlsUse use) {
  if (auto it = tlsSlots.find({target, use}); it != tlsSlots.end())
    return it->second;
  auto &got = patch.sections[unsigned(PatchSection::Got)];
  auto &relocs = patch.relocs[unsigned(PatchSection::Got)];
  PatchSymbol sym;
  sym.defined = true;
  sym.section = PatchSection::Got;
  sym.value = got.size();
  sym.size = use == TlsUse::GotTpOffset ? 8 : 16;
  auto fill = [&](uint64_t at, uint32_t type, uint32_t s) {
    relocs.push_back(PatchReloc{sym.value + at, type, s, 0});
  };
  StringRef suffix;
  switch (use) {
  case TlsUse::GotTpOffset:
    suffix = "@gottpoff";
    fill(0, arch->tlsFillType(TlsFill::TpOffset), target);
    break;
  case TlsUse::GotIndex:
    suffix = "@tlsgd";
    fill(0, arch->tlsFillType(TlsFill::ModuleId), target);
    fill(8, arch->tlsFillType(TlsFill::DtpOffset), target);
    break;
  case TlsUse::GotModule:
    suffix = "@tlsld";
    fill(0, arch->tlsFillType(TlsFill::ModuleId), target); // then 0
    break;
  case TlsUse::Descriptor:
    suffix = "@tlsdesc";
    fill(0, arch->slotFillType(), tlsDescReturnSymbol());
    fill(8, arch->tlsFillType(TlsFill::TpOffset), target);
    break;
  case TlsUse::TpOffset:
  case TlsUse::DtpOffset:
  case TlsUse::Marker:
    llvm_unreachable("no GOT entry for a direct offset or a marker");
  }
  sym.name = patch.symbols[target].name + suffix.str();
  got.resize(got.size() + sym.size, 0);
  patch.symbols.push_back(std::move(sym));
  return tlsSlots[{target, use}] = patch.symbols.size() - 1;
}

/// The patch's TLS descriptor function (Arch::tlsDescReturnCode), in
/// .hp.plt, once.
uint32_t Differ::tlsDescReturnSymbol() {
  if (tlsDescReturn)
    return *tlsDescReturn;
  auto &plt = patch.sections[unsigned(PatchSection::Plt)];
  SmallVector<uint8_t, 16> code = arch->tlsDescReturnCode();
  plt.resize(alignTo(plt.size(), 16), arch->fillByte());
  PatchSymbol sym;
  sym.name = tlsDescReturnName;
  sym.defined = true;
  sym.isFunction = true;
  sym.section = PatchSection::Plt;
  sym.value = plt.size();
  sym.size = code.size();
  plt.insert(plt.end(), code.begin(), code.end());
  patch.symbols.push_back(std::move(sym));
  return *(tlsDescReturn = patch.symbols.size() - 1);
}

} // namespace hotpatch
