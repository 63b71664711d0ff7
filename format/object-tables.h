//===- format/object-tables.h - find fingerprint tables in files -*- C++ -*-===//

#ifndef HOTPATCH_FORMAT_OBJECT_TABLES_H
#define HOTPATCH_FORMAT_OBJECT_TABLES_H

#include "fingerprint-table.h"

namespace hotpatch {

/// The fingerprint records of one ELF file: an object, one member of a static
/// archive, or a linked executable or shared library (one record per TU).
struct ObjectTables {
  std::string where; ///< "foo.o", or "libx.a(foo.o)" for an archive member
  uint16_t eMachine = 0;
  std::vector<TableRecord> records;
};

/// Reads every table in \p path. Fails with one line naming the file when it
/// cannot be read, is not ELF (or an archive of ELF objects), is truncated,
/// holds no table (built without the plugin), or holds a table this version
/// cannot read.
llvm::Expected<std::vector<ObjectTables>> readFingerprintTables(llvm::StringRef path);

} // namespace hotpatch

#endif
