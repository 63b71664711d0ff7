//===- runtime/image.h - the patch's bytes, ready for its address --*- C++ -*-===//
//
// Once the region's address is known: each replaced function's gate and
// redirects are encoded, and the region's image is made in our memory
// (sections relocated, gates, the record) to be written in one go.
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_RUNTIME_IMAGE_H
#define HOTPATCH_RUNTIME_IMAGE_H

#include "arch.h"
#include "flip.h"
#include "layout.h"
#include "patch-file.h"
#include "tls.h"

#include <vector>

namespace hotpatch {

/// The address of each section of \p patch placed at \p addr.
std::vector<uint64_t> sectionAddresses(const PatchLayout &layout, uint64_t addr);

/// Sets each flip's new code, gate and redirects (the new code of function
/// i is symbol patch.functions[i].newSymbol, at \p symAddr).
void planRedirects(std::vector<FunctionFlip> &flips, const Arch &arch,
                   const PatchFile &patch, const std::vector<uint64_t> &symAddr,
                   uint64_t gatesAddr);

/// The whole region at \p addr: sections relocated against \p symAddr
/// (thread-local relocations against \p tls, or \p newTls for the
/// variables the patch adds), the gates (reading \p commitAddr), and
/// \p record at its place.
llvm::Expected<std::vector<uint8_t>>
buildImage(const PatchFile &patch, const Arch &arch, const PatchLayout &layout,
           uint64_t addr, const std::vector<uint64_t> &symAddr,
           const std::vector<FunctionFlip> &flips, uint64_t commitAddr,
           llvm::ArrayRef<uint8_t> record, const ModuleTls *tls = nullptr,
           const ModuleTls *newTls = nullptr);

} // namespace hotpatch

#endif
