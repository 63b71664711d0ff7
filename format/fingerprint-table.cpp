//===- format/fingerprint-table.cpp - encode and decode records -----------===//

#include "fingerprint-table.h"
#include "string-table.h"

#include "llvm/BinaryFormat/ELF.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/xxhash.h"

#include <optional>

using namespace llvm;

namespace hotpatch {

namespace {
namespace le = support::endian;

// Byte offsets inside a record header (docs/fingerprint-format.md).
enum HeaderOffset : uint32_t {
  hMagic = 0,
  hVersion = 4,
  hHeaderSize = 6,
  hRecordSize = 8,
  hMachine = 12,
  hPadBefore = 14,
  hEntryNop = 15,
  hNumFunctions = 16,
  hNumVariables = 20,
  hFunctionEntrySize = 24,
  hVariableEntrySize = 28,
  hStringTableSize = 32,
  hSourceFile = 36,
  hProducer = 40,
  hOptions = 44,
  hOptionsHash = 48,
  hNumRemoved = 56, // version 2
};

/// A list of names in one string: comma-separated (no symbol has a comma).
std::string joinNames(const std::vector<std::string> &names) {
  std::string out;
  for (const std::string &n : names) {
    if (!out.empty())
      out += ',';
    out += n;
  }
  return out;
}
std::vector<std::string> splitNames(StringRef text) {
  std::vector<std::string> out;
  SmallVector<StringRef, 8> parts;
  text.split(parts, ',', -1, /*KeepEmpty=*/false);
  for (StringRef p : parts)
    out.push_back(p.str());
  return out;
}

void put16(std::string &out, size_t at, uint16_t v) {
  le::write16le(&out[at], v);
}
void put32(std::string &out, size_t at, uint32_t v) {
  le::write32le(&out[at], v);
}
void put64(std::string &out, size_t at, uint64_t v) {
  le::write64le(&out[at], v);
}

Error corrupt(StringRef where, uint64_t recordOff, const Twine &what) {
  return createStringError(
      std::errc::illegal_byte_sequence,
      "%s: corrupt fingerprint table (record at section offset %llu): %s",
      where.str().c_str(), (unsigned long long)recordOff, what.str().c_str());
}
} // namespace

std::string Fingerprint::hex() const {
  return formatv("{0:x-16}{1:x-16}", hi, lo).str();
}

uint64_t hash64(StringRef bytes) { return xxh3_64bits(bytes); }

Fingerprint hash128(ArrayRef<uint8_t> bytes) {
  XXH128_hash_t h = xxh3_128bits(bytes);
  return Fingerprint{h.low64, h.high64};
}

std::string machineName(uint16_t eMachine) {
  switch (eMachine) {
  case ELF::EM_X86_64:
    return "x86_64";
  case ELF::EM_AARCH64:
    return "aarch64";
  default:
    return formatv("EM_{0}", eMachine).str();
  }
}

std::string encodeRecord(const TableRecord &record) {
  StringTable strings;
  // Interning in a fixed order keeps the output a pure function of the input.
  uint32_t sourceOff = strings.add(record.sourceFile);
  uint32_t producerOff = strings.add(record.producer);
  uint32_t optionsOff = strings.add(record.options);
  std::vector<uint32_t> fnStr, varStr, removedStr;
  auto addFunctionStrings = [&](const FunctionEntry &fn,
                                std::vector<uint32_t> &to) {
    to.push_back(strings.add(fn.name));
    to.push_back(strings.add(fn.comdat));
    to.push_back(strings.add(fn.reason));
    to.push_back(strings.add(joinNames(fn.callees)));
    to.push_back(strings.add(joinNames(fn.calls)));
  };
  fnStr.reserve(record.functions.size() * 5);
  for (const FunctionEntry &fn : record.functions)
    addFunctionStrings(fn, fnStr);
  varStr.reserve(record.variables.size() * 2);
  for (const VariableEntry &var : record.variables) {
    varStr.push_back(strings.add(var.name));
    varStr.push_back(strings.add(var.comdat));
  }
  for (const FunctionEntry &fn : record.removedFunctions)
    addFunctionStrings(fn, removedStr);

  size_t fnBase = recordHeaderSize;
  size_t varBase = fnBase + record.functions.size() * functionEntrySize;
  size_t removedBase = varBase + record.variables.size() * variableEntrySize;
  size_t strBase =
      removedBase + record.removedFunctions.size() * functionEntrySize;
  std::string out(strBase, '\0');
  out += strings.bytes();

  memcpy(&out[hMagic], fingerprintMagic.data(), 4);
  put16(out, hVersion, record.version);
  put16(out, hHeaderSize, recordHeaderSize);
  put32(out, hRecordSize, out.size());
  put16(out, hMachine, record.eMachine);
  out[hPadBefore] = char(record.padBeforeBytes);
  out[hEntryNop] = char(record.entryNopBytes);
  put32(out, hNumFunctions, record.functions.size());
  put32(out, hNumVariables, record.variables.size());
  put32(out, hFunctionEntrySize, functionEntrySize);
  put32(out, hVariableEntrySize, variableEntrySize);
  put32(out, hStringTableSize, strings.bytes().size());
  put32(out, hSourceFile, sourceOff);
  put32(out, hProducer, producerOff);
  put32(out, hOptions, optionsOff);
  put64(out, hOptionsHash, record.optionsHash);
  put32(out, hNumRemoved, record.removedFunctions.size());

  auto putFunction = [&](size_t at, const FunctionEntry &fn,
                         const uint32_t *str) {
    put32(out, at + 0, str[0]);
    put32(out, at + 4, fn.flags);
    put64(out, at + 8, fn.fingerprint.lo);
    put64(out, at + 16, fn.fingerprint.hi);
    put32(out, at + 24, str[1]);
    put32(out, at + 28, str[2]);
    put64(out, at + 32, fn.sourceHash);
    put64(out, at + 40, fn.positionFreeHash);
    put32(out, at + 48, str[3]);
    put32(out, at + 52, str[4]);
  };
  for (size_t i = 0; i < record.functions.size(); ++i)
    putFunction(fnBase + i * functionEntrySize, record.functions[i],
                &fnStr[i * 5]);
  for (size_t i = 0; i < record.removedFunctions.size(); ++i)
    putFunction(removedBase + i * functionEntrySize,
                record.removedFunctions[i], &removedStr[i * 5]);
  for (size_t i = 0; i < record.variables.size(); ++i) {
    const VariableEntry &var = record.variables[i];
    size_t at = varBase + i * variableEntrySize;
    put32(out, at + 0, varStr[i * 2]);
    put32(out, at + 4, var.flags);
    put64(out, at + 8, var.sizeBytes);
    put64(out, at + 16, var.alignBytes);
    put64(out, at + 24, var.fingerprint.lo);
    put64(out, at + 32, var.fingerprint.hi);
    put64(out, at + 40, var.typeHash);
    put64(out, at + 48, var.initHash);
    put32(out, at + 56, varStr[i * 2 + 1]);
  }
  return out;
}

Expected<std::vector<TableRecord>> decodeRecords(ArrayRef<uint8_t> section,
                                                 StringRef where) {
  std::vector<TableRecord> records;
  const uint8_t *base = section.data();
  uint64_t off = 0;
  while (off < section.size()) {
    if (base[off] == 0) { // padding a linker put between two objects' tables
      ++off;
      continue;
    }
    uint64_t left = section.size() - off;
    const uint8_t *rec = base + off;
    if (left < 8 || memcmp(rec, fingerprintMagic.data(), 4) != 0)
      return corrupt(where, off, "bad magic (expected \"HPFP\")");
    uint16_t version = le::read16le(rec + hVersion);
    if (version != 1 && version != fingerprintVersion)
      return createStringError(
          std::errc::not_supported,
          "%s: fingerprint table version %u is not supported (this tool reads "
          "versions 1 and %u); use the hotpatch release that built it",
          where.str().c_str(), version, fingerprintVersion);
    if (left < recordHeaderSize)
      return corrupt(where, off,
                     formatv("truncated header ({0} of {1} bytes)", left,
                             recordHeaderSize));
    uint32_t headerSize = le::read16le(rec + hHeaderSize);
    uint32_t recordSize = le::read32le(rec + hRecordSize);
    uint32_t numFns = le::read32le(rec + hNumFunctions);
    uint32_t numVars = le::read32le(rec + hNumVariables);
    uint32_t fnSize = le::read32le(rec + hFunctionEntrySize);
    uint32_t varSize = le::read32le(rec + hVariableEntrySize);
    uint32_t strSize = le::read32le(rec + hStringTableSize);
    uint32_t numRemoved = version >= 2 ? le::read32le(rec + hNumRemoved) : 0;
    uint32_t minFnSize = version >= 2 ? functionEntrySize : functionEntrySizeV1;
    if (headerSize < recordHeaderSize || fnSize < minFnSize ||
        varSize < variableEntrySize)
      return corrupt(where, off,
                     formatv("header or entry size smaller than version {0}'s",
                             version));
    if (recordSize > left)
      return corrupt(where, off,
                     formatv("record claims {0} bytes but only {1} remain",
                             recordSize, left));
    uint64_t need = uint64_t(headerSize) + uint64_t(numFns) * fnSize +
                    uint64_t(numVars) * varSize +
                    uint64_t(numRemoved) * fnSize + strSize;
    if (need != recordSize || strSize == 0)
      return corrupt(where, off,
                     formatv("sizes do not add up ({0} bytes described, record "
                             "is {1})", need, recordSize));
    const char *strtab = reinterpret_cast<const char *>(rec) + recordSize - strSize;
    if (strtab[strSize - 1] != '\0')
      return corrupt(where, off, "string table is not NUL-terminated");
    std::optional<uint32_t> badString; // the first offset out of range
    auto str = [&](uint32_t o) -> std::string {
      if (o >= strSize) {
        badString = badString.value_or(o);
        return {};
      }
      return std::string(strtab + o);
    };

    TableRecord r;
    r.version = version;
    r.eMachine = le::read16le(rec + hMachine);
    r.padBeforeBytes = rec[hPadBefore];
    r.entryNopBytes = rec[hEntryNop];
    r.sourceFile = str(le::read32le(rec + hSourceFile));
    r.producer = str(le::read32le(rec + hProducer));
    r.options = str(le::read32le(rec + hOptions));
    r.optionsHash = le::read64le(rec + hOptionsHash);
    auto readFunction = [&](const uint8_t *e, FunctionEntry &fn) {
      fn.name = str(le::read32le(e + 0));
      fn.flags = le::read32le(e + 4);
      fn.fingerprint.lo = le::read64le(e + 8);
      fn.fingerprint.hi = le::read64le(e + 16);
      fn.comdat = str(le::read32le(e + 24));
      fn.reason = str(le::read32le(e + 28));
      if (version < 2)
        return;
      fn.sourceHash = le::read64le(e + 32);
      fn.positionFreeHash = le::read64le(e + 40);
      fn.callees = splitNames(str(le::read32le(e + 48)));
      fn.calls = splitNames(str(le::read32le(e + 52)));
    };
    const uint8_t *fnBase = rec + headerSize;
    r.functions.resize(numFns);
    for (uint32_t i = 0; i < numFns; ++i)
      readFunction(fnBase + uint64_t(i) * fnSize, r.functions[i]);
    const uint8_t *varBase = fnBase + uint64_t(numFns) * fnSize;
    r.variables.resize(numVars);
    for (uint32_t i = 0; i < numVars; ++i) {
      const uint8_t *e = varBase + uint64_t(i) * varSize;
      VariableEntry &var = r.variables[i];
      var.name = str(le::read32le(e + 0));
      var.flags = le::read32le(e + 4);
      var.sizeBytes = le::read64le(e + 8);
      var.alignBytes = le::read64le(e + 16);
      var.fingerprint.lo = le::read64le(e + 24);
      var.fingerprint.hi = le::read64le(e + 32);
      var.typeHash = le::read64le(e + 40);
      var.initHash = le::read64le(e + 48);
      var.comdat = str(le::read32le(e + 56));
    }
    const uint8_t *removedBase = varBase + uint64_t(numVars) * varSize;
    r.removedFunctions.resize(numRemoved);
    for (uint32_t i = 0; i < numRemoved; ++i)
      readFunction(removedBase + uint64_t(i) * fnSize, r.removedFunctions[i]);
    if (badString)
      return corrupt(where, off,
                     formatv("string offset {0} beyond the {1}-byte string "
                             "table", *badString, strSize));
    records.push_back(std::move(r));
    off += recordSize;
  }
  return records;
}

} // namespace hotpatch
