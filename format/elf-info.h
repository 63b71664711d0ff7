//===- format/elf-info.h - small facts about linked ELF files -----*- C++ -*-===//

#ifndef HOTPATCH_FORMAT_ELF_INFO_H
#define HOTPATCH_FORMAT_ELF_INFO_H

#include "llvm/Object/ELF.h"

#include <string>

namespace hotpatch {

/// The GNU build-id note of \p file as lower-case hex, or "" when it has none.
std::string buildIdOf(const llvm::object::ELFFile<llvm::object::ELF64LE> &file);

} // namespace hotpatch

#endif
