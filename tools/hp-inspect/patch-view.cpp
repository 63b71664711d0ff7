//===- tools/hp-inspect/patch-view.cpp - show a .hp patch -----------------===//

#include "patch-view.h"

#include "arch.h"
#include "fingerprint-table.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

using namespace llvm;

namespace hotpatch {

namespace {
std::string offsetText(uint64_t off) {
  return off == unresolvedOffset ? "unresolved" : formatv("{0:x}", off).str();
}

std::string refPlace(const PatchSymbol &s) {
  std::string where = s.refInModule ? "running module" : "the module or any loaded library";
  if (!s.refSource.empty())
    where += ", file-local in " + s.refSource;
  if (s.refOffset != unresolvedOffset)
    where += ", offset " + offsetText(s.refOffset);
  return where;
}

/// Symbols the function map points at (their code replaces old functions).
DenseMap<uint32_t, const FunctionMapEntry *> replacements(const PatchFile &p) {
  DenseMap<uint32_t, const FunctionMapEntry *> out;
  for (const FunctionMapEntry &fn : p.functions)
    out[fn.newSymbol] = &fn;
  return out;
}

/// Slots: GOT symbols and what their fill relocation points at.
std::vector<std::pair<uint32_t, uint32_t>> slotTargets(const PatchFile &p) {
  std::vector<std::pair<uint32_t, uint32_t>> out;
  for (const PatchReloc &r : p.relocs[unsigned(PatchSection::Got)])
    for (uint32_t i = 0; i < p.symbols.size(); ++i)
      if (p.symbols[i].defined && p.symbols[i].section == PatchSection::Got &&
          p.symbols[i].value == r.offset)
        out.push_back({i, r.symbol});
  return out;
}
} // namespace

void printPatch(raw_ostream &os, StringRef path, const PatchFile &p,
                size_t fileSize, const SignatureCheck &sig) {
  os << path << ": hotpatch patch (format version " << patchFormatVersion
     << "), " << machineName(p.eMachine) << ", " << fileSize << " bytes\n";
  if (p.buildId.empty())
    os << "  target:    not named; hp-apply resolves symbols by name in the "
          "module that holds them\n";
  else
    os << "  target:    build-id " << p.buildId << " (" << p.targetName << ", "
       << (p.targetIsExec ? "executable, absolute addresses"
                          : "position-independent, offsets from its base")
       << ")\n";
  os << "  producer:  " << p.producer << "\n";
  if (!sig.signedPatch)
    os << "  signature: none\n";
  else
    os << "  signature: ed25519, key " << keyId(sig.signer)
       << (sig.valid ? ", valid\n" : ", INVALID: the patch was modified after signing\n");
  os << "  code " << p.sections[unsigned(PatchSection::Text)].size()
     << " bytes, stubs " << p.sections[unsigned(PatchSection::Plt)].size()
     << ", read-only data " << p.sections[unsigned(PatchSection::Rodata)].size()
     << ", data " << p.sections[unsigned(PatchSection::Data)].size() << ", bss "
     << p.bssSize << ", slots " << p.sections[unsigned(PatchSection::Got)].size() / 8;
  if (size_t tls = p.sections[unsigned(PatchSection::Tls)].size())
    os << ", new thread-local " << tls << " bytes a thread";
  os << "\n";
  os << "  replaced functions: " << p.functions.size() << "\n";
  for (const FunctionMapEntry &fn : p.functions) {
    os << "    " << fn.oldName;
    if (!fn.oldSource.empty())
      os << " (" << fn.oldSource << ")";
    os << ": old " << fn.oldSize << " bytes -> new " << fn.newSize
       << " bytes, patch site entry+" << unsigned(fn.siteOffset) << ", at "
       << offsetText(fn.oldOffset);
    if (fn.endlessLoop)
      os << ", endless loop (running frames keep the old code)";
    os << "\n      expects:";
    for (uint8_t b : fn.expected)
      os << formatv(" {0:x-2}", b);
    os << "\n";
    if (!fn.why.empty())
      os << "      why: " << fn.why << "\n";
  }
  auto replaced = replacements(p);
  std::vector<const PatchSymbol *> fresh;
  for (uint32_t i = 0; i < p.symbols.size(); ++i) {
    const PatchSymbol &s = p.symbols[i];
    if (s.defined && !replaced.count(i) && s.section != PatchSection::Got &&
        s.section != PatchSection::Plt && !isUnwindTableSymbol(s))
      fresh.push_back(&s);
  }
  uint64_t unwindBytes = unwindTableBytes(p);
  os << "  unwind tables: "
     << (unwindBytes ? formatv("{0} bytes of .eh_frame in .hp.rodata", unwindBytes).str()
                     : std::string("none"))
     << "\n";
  os << "  new symbols: " << fresh.size() << "\n";
  for (const PatchSymbol *s : fresh)
    os << "    " << s->name << ": "
       << (s->isFunction ? "function" : s->isSection ? "anonymous data" : "variable")
       << ", " << s->size << " bytes in " << patchSectionName(s->section) << "\n";
  auto slots = slotTargets(p);
  os << "  slots: " << slots.size() << "\n";
  for (auto [slot, target] : slots) {
    const PatchSymbol &t = p.symbols[target];
    os << "    " << p.symbols[slot].name << " -> " << t.name
       << (t.defined ? " (in the patch)" : " (" + refPlace(t) + ")") << "\n";
  }
  size_t numRefs = 0;
  for (const PatchSymbol &s : p.symbols)
    numRefs += !s.defined;
  os << "  references: " << numRefs << "\n";
  for (const PatchSymbol &s : p.symbols)
    if (!s.defined)
      os << "    " << s.refName << ": " << refPlace(s) << "\n";
  os << "  accepted risks: " << (p.acceptedRisks.empty() ? "none" : "") << "\n";
  for (const std::string &risk : p.acceptedRisks)
    os << "    " << risk << "\n";
}

json::Value patchToJson(StringRef path, const PatchFile &p, size_t fileSize,
                        const SignatureCheck &sig) {
  json::Array functions, fresh, slots, references, risks;
  for (const FunctionMapEntry &fn : p.functions) {
    std::string expected;
    for (uint8_t b : fn.expected)
      expected += formatv("{0:x-2}", b).str();
    functions.push_back(json::Object{
        {"name", fn.oldName},
        {"source", fn.oldSource.empty() ? json::Value(nullptr) : json::Value(fn.oldSource)},
        {"old_size", int64_t(fn.oldSize)},
        {"new_size", int64_t(fn.newSize)},
        {"site_offset", int64_t(fn.siteOffset)},
        {"old_offset", fn.oldOffset == unresolvedOffset ? json::Value(nullptr)
                                                        : json::Value(int64_t(fn.oldOffset))},
        {"expected_bytes", expected},
        {"endless_loop", fn.endlessLoop},
        {"why", fn.why.empty() ? json::Value(nullptr) : json::Value(fn.why)},
    });
  }
  auto replaced = replacements(p);
  for (uint32_t i = 0; i < p.symbols.size(); ++i) {
    const PatchSymbol &s = p.symbols[i];
    if (s.defined && !replaced.count(i) && s.section != PatchSection::Got &&
        s.section != PatchSection::Plt && !isUnwindTableSymbol(s))
      fresh.push_back(json::Object{
          {"name", s.name},
          {"kind", s.isFunction ? "function" : s.isSection ? "anonymous" : "variable"},
          {"size", int64_t(s.size)},
          {"section", patchSectionName(s.section)}});
    if (!s.defined)
      references.push_back(json::Object{
          {"name", s.refName},
          {"source", s.refSource.empty() ? json::Value(nullptr) : json::Value(s.refSource)},
          {"in_module", s.refInModule},
          {"offset", s.refOffset == unresolvedOffset ? json::Value(nullptr)
                                                     : json::Value(int64_t(s.refOffset))}});
  }
  for (auto [slot, target] : slotTargets(p))
    slots.push_back(json::Object{{"slot", p.symbols[slot].name},
                                 {"target", p.symbols[target].name},
                                 {"in_patch", p.symbols[target].defined}});
  for (const std::string &r : p.acceptedRisks)
    risks.push_back(r);
  return json::Object{
      {"file", path.str()},
      {"kind", "patch"},
      {"format_version", int64_t(patchFormatVersion)},
      {"arch", machineName(p.eMachine)},
      {"size", int64_t(fileSize)},
      {"build_id", p.buildId.empty() ? json::Value(nullptr) : json::Value(p.buildId)},
      {"target_name", p.targetName.empty() ? json::Value(nullptr) : json::Value(p.targetName)},
      {"producer", p.producer},
      {"replaced_functions", std::move(functions)},
      {"new_symbols", std::move(fresh)},
      {"unwind_table_bytes", int64_t(unwindTableBytes(p))},
      {"thread_local_bytes", int64_t(p.sections[unsigned(PatchSection::Tls)].size())},
      {"signature", sig.signedPatch
                        ? json::Value(json::Object{
                              {"algorithm", "ed25519"},
                              {"key_id", keyId(sig.signer)},
                              {"public_key", toHex(sig.signer, /*LowerCase=*/true)},
                              {"valid", sig.valid}})
                        : json::Value(nullptr)},
      {"slots", std::move(slots)},
      {"references", std::move(references)},
      {"accepted_risks", std::move(risks)},
  };
}

} // namespace hotpatch
