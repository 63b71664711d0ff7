//===- tools/hp-inspect/patch-view.h - show a .hp patch -----------*- C++ -*-===//

#ifndef HOTPATCH_TOOLS_PATCH_VIEW_H
#define HOTPATCH_TOOLS_PATCH_VIEW_H

#include "patch-file.h"
#include "patch-signature.h"

#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

namespace hotpatch {

/// \p sig: what its signature says (checkSignature).
void printPatch(llvm::raw_ostream &os, llvm::StringRef path, const PatchFile &patch,
                size_t fileSize, const SignatureCheck &sig);
llvm::json::Value patchToJson(llvm::StringRef path, const PatchFile &patch,
                              size_t fileSize, const SignatureCheck &sig);

} // namespace hotpatch

#endif
