//===- format/string-table.h - NUL-terminated strings, stored once -*- C++ -*-===//
//
// The string tables of both formats (fingerprint records, .hp sections):
// each string once, offset 0 the empty string. Same insertion order, same
// bytes.
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_FORMAT_STRING_TABLE_H
#define HOTPATCH_FORMAT_STRING_TABLE_H

#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <string>

namespace hotpatch {

class StringTable {
public:
  StringTable() { data.push_back('\0'); }
  uint32_t add(llvm::StringRef s) {
    if (s.empty())
      return 0;
    auto [it, inserted] = offsets.try_emplace(s, uint32_t(data.size()));
    if (inserted) {
      data.append(s.begin(), s.end());
      data.push_back('\0');
    }
    return it->second;
  }
  const std::string &bytes() const { return data; }

private:
  std::string data;
  llvm::StringMap<uint32_t> offsets;
};

} // namespace hotpatch

#endif
