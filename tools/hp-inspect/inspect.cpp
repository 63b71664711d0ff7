//===- tools/hp-inspect/inspect.cpp - show and compare fingerprint tables -===//

#include "inspect.h"

#include "classify.h"
#include "explain.h"
#include "pairing.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"

#include <map>
#include <set>
#include <tuple>

using namespace llvm;

namespace hotpatch {

namespace {
StringRef binding(uint32_t flags, uint32_t local, uint32_t weak) {
  if (flags & local)
    return "local";
  if (flags & weak)
    return "weak";
  return "global";
}

json::Value optional(StringRef s) {
  return s.empty() ? json::Value(nullptr) : json::Value(s.str());
}

json::Value hexOrNull(uint64_t v) {
  return v ? json::Value(formatv("{0:x-16}", v).str()) : json::Value(nullptr);
}
} // namespace

void printTables(raw_ostream &os, const std::vector<ObjectTables> &files) {
  for (const ObjectTables &file : files) {
    os << file.where << ": " << machineName(file.eMachine) << ", "
       << file.records.size()
       << (file.records.size() == 1 ? " fingerprint record\n"
                                    : " fingerprint records\n");
    for (const TableRecord &r : file.records) {
      os << "record " << r.sourceFile << " (table version " << r.version << ")\n";
      os << "  producer:  " << r.producer << "\n";
      os << "  options:   " << r.options << "\n";
      os << formatv("  options hash: {0:x-16}\n", r.optionsHash);
      os << "  prologue:  " << unsigned(r.padBeforeBytes)
         << " bytes before each entry, " << unsigned(r.entryNopBytes)
         << "-byte entry nop\n";
      os << "  functions: " << r.functions.size() << "\n";
      for (const FunctionEntry &fn : r.functions) {
        os << "    " << fn.fingerprint.hex() << "  " << fn.name << "  "
           << binding(fn.flags, FnLocal, FnWeak);
        if (fn.flags & FnComdat)
          os << " comdat(" << fn.comdat << ")";
        if (fn.flags & FnEndlessLoop)
          os << " endless-loop";
        if (fn.flags & FnLandingPads)
          os << " landing-pads";
        if (fn.flags & FnPatchable)
          os << " patchable";
        else
          os << " not-patchable: " << fn.reason;
        os << "\n";
      }
      os << "  variables: " << r.variables.size() << "\n";
      for (const VariableEntry &var : r.variables) {
        os << "    " << var.fingerprint.hex() << "  " << var.name << "  "
           << binding(var.flags, VarLocal, VarWeak) << " " << var.sizeBytes
           << " bytes";
        if (var.flags & VarConstant)
          os << " const";
        if (var.flags & VarTLS)
          os << " tls";
        if (var.flags & VarZeroInit)
          os << " zero-init";
        if (var.flags & VarCommon)
          os << " common";
        if (var.flags & VarComdat)
          os << " comdat(" << var.comdat << ")";
        os << "\n";
      }
    }
  }
}

json::Value tablesToJson(StringRef path, const std::vector<ObjectTables> &files) {
  json::Array objects;
  for (const ObjectTables &file : files) {
    json::Array records;
    for (const TableRecord &r : file.records) {
      json::Array functions, variables, removed;
      for (const FunctionEntry &fn : r.removedFunctions)
        removed.push_back(json::Object{
            {"name", fn.name},
            {"binding", binding(fn.flags, FnLocal, FnWeak)},
            {"source_hash", hexOrNull(fn.sourceHash)},
            {"callees", json::Array(fn.callees)},
        });
      for (const FunctionEntry &fn : r.functions)
        functions.push_back(json::Object{
            {"name", fn.name},
            {"kind", "function"},
            {"fingerprint", fn.fingerprint.hex()},
            {"binding", binding(fn.flags, FnLocal, FnWeak)},
            {"comdat", optional(fn.comdat)},
            {"patchable", bool(fn.flags & FnPatchable)},
            {"endless_loop", bool(fn.flags & FnEndlessLoop)},
            {"landing_pads", bool(fn.flags & FnLandingPads)},
            {"not_patchable_reason", optional(fn.reason)},
            {"source_hash", hexOrNull(fn.sourceHash)},
            {"position_free_hash", hexOrNull(fn.positionFreeHash)},
            {"callees", json::Array(fn.callees)},
            {"calls", json::Array(fn.calls)},
        });
      for (const VariableEntry &var : r.variables)
        variables.push_back(json::Object{
            {"name", var.name},
            {"kind", "variable"},
            {"fingerprint", var.fingerprint.hex()},
            {"binding", binding(var.flags, VarLocal, VarWeak)},
            {"comdat", optional(var.comdat)},
            {"size", int64_t(var.sizeBytes)},
            {"align", int64_t(var.alignBytes)},
            {"constant", bool(var.flags & VarConstant)},
            {"tls", bool(var.flags & VarTLS)},
            {"zero_init", bool(var.flags & VarZeroInit)},
            {"common", bool(var.flags & VarCommon)},
            {"type_hash", formatv("{0:x-16}", var.typeHash).str()},
            {"init_hash", formatv("{0:x-16}", var.initHash).str()},
        });
      records.push_back(json::Object{
          {"source", r.sourceFile},
          {"table_version", int64_t(r.version)},
          {"producer", r.producer},
          {"options", r.options},
          {"options_hash", formatv("{0:x-16}", r.optionsHash).str()},
          {"prologue", json::Object{{"bytes_before_entry", int64_t(r.padBeforeBytes)},
                                    {"entry_nop_bytes", int64_t(r.entryNopBytes)}}},
          {"functions", std::move(functions)},
          {"variables", std::move(variables)},
          {"removed_functions", std::move(removed)},
      });
    }
    objects.push_back(json::Object{{"object", file.where},
                                   {"arch", machineName(file.eMachine)},
                                   {"records", std::move(records)}});
  }
  return json::Object{{"file", path.str()}, {"objects", std::move(objects)}};
}

namespace {

/// A symbol of one build: functions and variables by name, file-local
/// ones also by the pair of TUs they belong to.
using SymbolKey = std::tuple<bool /*variable*/, std::string /*name*/,
                             std::string /*TU shown*/, size_t /*TU pair*/>;
constexpr size_t global = ~size_t(0);

struct SymbolFacts {
  Fingerprint fp;
  const VariableEntry *var = nullptr;
  const FunctionEntry *fn = nullptr;
  const TableRecord *record = nullptr;
  std::string runningName; ///< a static the compiler renumbered: its old name
};

using SymbolMap = std::map<SymbolKey, SymbolFacts>;

std::vector<const TableRecord *>
recordsOf(const std::vector<ObjectTables> &files) {
  std::vector<const TableRecord *> out;
  for (const ObjectTables &file : files)
    for (const TableRecord &r : file.records)
      out.push_back(&r);
  return out;
}

std::vector<std::string> sourcesOf(ArrayRef<const TableRecord *> records) {
  std::vector<std::string> out;
  for (const TableRecord *r : records)
    out.push_back(r->sourceFile);
  return out;
}

std::set<uint64_t> optionsOf(ArrayRef<const TableRecord *> records) {
  std::set<uint64_t> out;
  for (const TableRecord *r : records)
    out.insert(r->optionsHash);
  return out;
}

void collect(const TableRecord &r, const std::string &label, size_t unit,
             SymbolMap &out) {
  for (const FunctionEntry &fn : r.functions) {
    bool local = fn.flags & FnLocal;
    out[{false, fn.name, local ? label : "", local ? unit : global}] =
        SymbolFacts{fn.fingerprint, nullptr, &fn, &r, ""};
  }
  for (const VariableEntry &var : r.variables) {
    bool local = var.flags & VarLocal;
    out[{true, var.name, local ? label : "", local ? unit : global}] =
        SymbolFacts{var.fingerprint, &var, nullptr, &r, ""};
  }
}

/// hp-diff's reading of renumbered statics (diff/classify.h): the old
/// build's entry moves under the new name, so the two are compared.
void followRenumbering(const TableRecord &before, const TableRecord &after,
                       const std::string &label, size_t unit, SymbolMap &old) {
  for (const StaticMatch::Renumbered &r : matchStatics(before, after).renumbered) {
    auto it = old.find({true, r.oldName, label, unit});
    if (it == old.end())
      continue;
    SymbolFacts facts = it->second;
    facts.runningName = r.oldName;
    old.erase(it);
    old[{true, r.newName, label, unit}] = facts;
  }
}

std::string variableDetail(const VariableEntry &o, const VariableEntry &n) {
  SmallVector<std::string, 3> parts;
  if (o.sizeBytes != n.sizeBytes)
    parts.push_back(formatv("size {0} -> {1} bytes", o.sizeBytes, n.sizeBytes));
  if (o.typeHash != n.typeHash)
    parts.push_back("type");
  if (o.initHash != n.initHash)
    parts.push_back("initializer");
  if (o.alignBytes != n.alignBytes)
    parts.push_back(formatv("alignment {0} -> {1}", o.alignBytes, n.alignBytes));
  if (o.flags != n.flags)
    parts.push_back("flags");
  return join(parts, ", ");
}

/// What changed between \p before and \p after of one symbol, in hp-diff's
/// words for a function.
std::string changeDetail(const SymbolFacts &before, const SymbolFacts &after) {
  if (before.var && after.var)
    return variableDetail(*before.var, *after.var);
  if (before.fn && after.fn)
    return classifyFunction(before.fn, *after.fn, *before.record, *after.record)
        .describe();
  return "";
}

SymbolChange verdict(const SymbolKey &key, SymbolChange::Status status,
                     std::string detail) {
  return SymbolChange{status, !std::get<0>(key), std::get<1>(key),
                      std::get<2>(key), std::move(detail)};
}

} // namespace

std::vector<SymbolChange> compareTables(const std::vector<ObjectTables> &oldFiles,
                                        const std::vector<ObjectTables> &newFiles,
                                        bool &optionsDiffer) {
  std::vector<const TableRecord *> olds = recordsOf(oldFiles);
  std::vector<const TableRecord *> news = recordsOf(newFiles);
  optionsDiffer = optionsOf(olds) != optionsOf(news);
  // TUs pair as hp-diff pairs them (diff/pairing.h); two single-TU builds
  // pair whatever their paths (old/x.c vs new/x.c), and then need no name.
  std::vector<UnitPair> units =
      pairUnits(sourcesOf(olds), sourcesOf(news), /*lonePair=*/true);
  bool singleTU = olds.size() == 1 && news.size() == 1;
  SymbolMap before, after;
  for (size_t k = 0; k < units.size(); ++k) {
    const TableRecord *o = units[k].before ? olds[*units[k].before] : nullptr;
    const TableRecord *n = units[k].after ? news[*units[k].after] : nullptr;
    std::string label =
        singleTU ? "" : sys::path::filename((n ? n : o)->sourceFile).str();
    if (o)
      collect(*o, label, k, before);
    if (n)
      collect(*n, label, k, after);
    if (o && n)
      followRenumbering(*o, *n, label, k, before);
  }
  std::vector<std::pair<SymbolKey, SymbolChange>> changes;
  for (const auto &[key, sym] : after) {
    auto it = before.find(key);
    if (it == before.end()) {
      changes.emplace_back(key, verdict(key, SymbolChange::Added, ""));
      continue;
    }
    std::string renumbered =
        it->second.runningName.empty()
            ? ""
            : formatv("the running '{0}', renumbered by the compiler",
                      it->second.runningName).str();
    bool same = it->second.fp == sym.fp;
    std::string detail = same ? "" : changeDetail(it->second, sym);
    if (!renumbered.empty())
      detail = detail.empty() ? renumbered : renumbered + "; " + detail;
    changes.emplace_back(
        key, verdict(key, same ? SymbolChange::Same : SymbolChange::Changed,
                     std::move(detail)));
  }
  for (const auto &[key, sym] : before)
    if (!after.count(key))
      changes.emplace_back(key, verdict(key, SymbolChange::Removed, ""));
  // Functions first, then variables; each by name, then TU.
  llvm::sort(changes, [](const auto &a, const auto &b) { return a.first < b.first; });
  std::vector<SymbolChange> out;
  out.reserve(changes.size());
  for (auto &entry : changes)
    out.push_back(std::move(entry.second));
  return out;
}

static StringRef statusName(SymbolChange::Status s) {
  switch (s) {
  case SymbolChange::Same:
    return "same";
  case SymbolChange::Changed:
    return "changed";
  case SymbolChange::Added:
    return "added";
  case SymbolChange::Removed:
    return "removed";
  }
  return "?";
}

void printChanges(raw_ostream &os, const std::vector<SymbolChange> &changes,
                  bool optionsDiffer) {
  if (optionsDiffer)
    os << "options differ: the two builds used different compilers or "
          "codegen options\n";
  for (const SymbolChange &c : changes) {
    os << formatv("{0,-8} {1,-8} {2}", statusName(c.status),
                  c.isFunction ? "function" : "variable", c.name);
    if (!c.source.empty())
      os << " (" << c.source << ")";
    if (!c.detail.empty())
      os << ": " << c.detail;
    os << "\n";
  }
}

json::Value changesToJson(const std::vector<SymbolChange> &changes,
                          bool optionsDiffer) {
  json::Array out;
  for (const SymbolChange &c : changes)
    out.push_back(json::Object{{"name", c.name},
                               {"kind", c.isFunction ? "function" : "variable"},
                               {"status", statusName(c.status)},
                               {"source", optional(c.source)},
                               {"detail", optional(c.detail)}});
  return json::Object{{"options_differ", optionsDiffer},
                      {"symbols", std::move(out)}};
}

} // namespace hotpatch
