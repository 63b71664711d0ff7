//===- runtime/image.cpp - the patch's bytes, ready for its address -------===//

#include "image.h"

#include "apply-error.h"
#include "new-tls.h"

#include "llvm/Support/FormatVariadic.h"

using namespace llvm;

namespace hotpatch {

std::vector<uint64_t> sectionAddresses(const PatchLayout &layout, uint64_t addr) {
  std::vector<uint64_t> out(numPatchSections);
  for (unsigned s = 0; s < numPatchSections; ++s)
    out[s] = layout.addressOf(addr, layout.offsetOf(PatchSection(s)));
  // A new thread-local variable's "address" is its offset in the block.
  out[unsigned(PatchSection::Tls)] = 0;
  return out;
}

void planRedirects(std::vector<FunctionFlip> &flips, const Arch &arch,
                   const PatchFile &patch, const std::vector<uint64_t> &symAddr,
                   uint64_t gatesAddr) {
  for (size_t i = 0; i < flips.size(); ++i) {
    FunctionFlip &f = flips[i];
    f.newAddr = symAddr[patch.functions[i].newSymbol];
    f.gateAddr = gatesAddr + i * arch.gateSize();
    f.redirect = arch.encodeRedirect(f.entryAddr, f.site, f.newAddr);
    f.toGate = arch.encodeRedirect(f.entryAddr, f.site, f.gateAddr);
  }
}

Expected<std::vector<uint8_t>>
buildImage(const PatchFile &patch, const Arch &arch, const PatchLayout &layout,
           uint64_t addr, const std::vector<uint64_t> &symAddr,
           const std::vector<FunctionFlip> &flips, uint64_t commitAddr,
           ArrayRef<uint8_t> record, const ModuleTls *tls,
           const ModuleTls *newTls) {
  std::vector<uint8_t> image(layout.total, 0);
  for (unsigned s = 0; s < numPatchSections; ++s) {
    if (PatchSection(s) == PatchSection::Tls)
      continue; // (ld.so's to copy: runtime/new-tls.h)
    const std::vector<uint8_t> &bytes = patch.sections[s];
    uint64_t base = layout.offsetOf(PatchSection(s));
    llvm::copy(bytes, image.begin() + base); // (bss: none)
    for (const PatchReloc &r : patch.relocs[s]) {
      if (r.offset + arch.relocExtent(r.type).second > bytes.size())
        return applyError(ApplyError::Refused,
                          formatv("relocation at {0}+{1:x} runs past the "
                                  "section; the patch is malformed",
                                  patchSectionName(PatchSection(s)), r.offset));
      uint64_t off = base + r.offset;
      uint64_t sym = symAddr[r.symbol];
      if (std::optional<TlsValue> v = arch.tlsValue(r.type)) {
        const PatchSymbol &var = patch.symbols[r.symbol];
        const ModuleTls *block = isNewTls(var) ? newTls : tls;
        Expected<uint64_t> value =
            block ? block->value(*v, sym)
                  : createStringError(std::errc::invalid_argument,
                                      "its TLS block was not found");
        if (!value)
          return applyError(ApplyError::Refused,
                            formatv("thread-local variable '{0}': {1}",
                                    var.defined ? var.name : var.refName,
                                    toString(value.takeError())));
        sym = *value;
      }
      if (Error err = arch.applyReloc(r.type, image.data() + off, layout.addressOf(addr, off),
                                      sym, r.addend))
        return applyError(ApplyError::Failed,
                          formatv("relocation against '{0}': {1}",
                                  patch.symbols[r.symbol].name,
                                  toString(std::move(err))));
    }
  }
  for (const FunctionFlip &f : flips) {
    Expected<SmallVector<uint8_t, 64>> gate =
        arch.encodeGate(f.gateAddr, commitAddr, f.back, f.newAddr);
    if (!gate)
      return applyError(ApplyError::Failed, formatv("function '{0}': {1}", f.name,
                                                    toString(gate.takeError())));
    llvm::copy(*gate, image.begin() + (f.gateAddr - addr));
  }
  llvm::copy(record, image.begin() + layout.recordOff);
  return image;
}

} // namespace hotpatch
