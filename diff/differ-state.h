//===- diff/differ-state.h - the differ's stages and what they share -*- C++ -*-===//
//
// Internal to the diff library. One Differ runs the stages in order, each
// in its own file:
//
//   load      (differ.cpp)   read and pair the TUs; input errors stop here
//   compare   (compare.cpp)  classify every function and variable
//   closure   (closure.cpp)  follow the changed code's references
//   emit      (emit.cpp)     copy, place and retarget into the patch
//   target    (target.cpp)   resolve against the running binary (--target)
//
// Every stage collects all of its refusals in `refusals`; the run goes on
// through the stages that can still look, and fails at the end with all.
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_DIFF_DIFFER_STATE_H
#define HOTPATCH_DIFF_DIFFER_STATE_H

#include "differ.h"
#include "errors.h"
#include "object.h"

#include "arch.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

#include <map>
#include <set>

namespace hotpatch {

enum class Status { Same, Changed, Added };

/// What a relocation in the new code points at.
struct Target {
  enum Kind { Function, Variable, Anon, Undefined } kind;
  uint32_t symbol = 0;  // in the object: the named symbol (Function, Variable)
  uint32_t section = 0; // Anon: the section copied whole
  int64_t addendAdjust = 0;
  std::string name;
};

/// A section of a new object: (object index, section index).
using SectionRef = std::pair<size_t, uint32_t>;

class Differ {
public:
  Differ(const DiffOptions &opts)
      : opts(opts),
        targetPath(opts.target.empty() ? opts.oldBinary : opts.target) {}
  llvm::Expected<DiffResult> run();

private:
  using ObjectPairs =
      std::vector<std::pair<std::unique_ptr<Object>, std::unique_ptr<Object>>>;

  // load (differ.cpp)
  llvm::Error load();
  llvm::Expected<ObjectPairs> loadObjectPairs();
  llvm::Expected<ObjectPairs> loadBinaryPairs();
  llvm::Error checkComparable(const Object *before, const Object &after) const;
  void indexGlobals();

  // compare (compare.cpp)
  void compare(size_t pair);
  void compareFunctions(size_t pair);
  void compareVariables(size_t pair);
  void checkChangedVariable(size_t pair, const VariableEntry &before,
                            const VariableEntry &after);
  void pullInUsersOfChangedConstants();
  llvm::StringSet<> changedConstGlobals() const;
  void pullInUsers(size_t obj, const llvm::StringSet<> &changedGlobals);

  // closure (closure.cpp)
  llvm::Expected<Target> resolve(size_t obj, uint32_t symIndex) const;
  /// Whether the patch takes its own copy of what \p t names.
  bool copies(size_t obj, const Target &t) const;
  void closure();
  void seedClosure();
  void follow(SectionRef sec, const Reloc &r);
  void checkBothReadings(SectionRef sec, const Reloc &r, const Target &t);
  void enqueue(size_t obj, uint32_t sec) {
    if (toCopy.insert({obj, sec}).second)
      work.push_back({obj, sec});
  }

  // unwind tables (unwind.cpp)
  /// A CIE or FDE of an object's .eh_frame.
  struct FrameEntry {
    uint64_t offset, size;
    uint64_t cie;                           ///< its CIE's offset; its own for a CIE
    llvm::SmallVector<uint32_t, 3> relocs; ///< indices into the section's
  };
  struct FrameTable {
    uint32_t section = 0; ///< the object's .eh_frame; 0: none
    std::vector<FrameEntry> entries;
    llvm::DenseMap<uint32_t, size_t> fdeOf; ///< code section -> its FDE
  };
  void indexFrames(size_t obj);
  const FrameEntry *entryAt(size_t obj, uint64_t offset) const;
  void followUnwind(SectionRef code);
  void emitUnwindTables();
  /// Whether \p sec is read by the unwind tables only (an .eh_frame, an
  /// LSDA, the slots they point at).
  bool isUnwindData(SectionRef sec) const {
    return sec.second == frames[sec.first].section || unwindData.count(sec);
  }
  // emit (emit.cpp)
  void emit();
  void placeSections();
  void checkLandingPads();
  void allocateCommons();
  void retargetRelocations();
  void retarget(SectionRef sec, const Reloc &r);
  std::optional<uint32_t> namedTarget(SectionRef sec, const Reloc &r,
                                      const Target &t, RelocKind kind,
                                      bool &external);
  void mapFunctions();
  void mapFunction(size_t pair, llvm::StringRef name);
  void sortResult();

  // target (target.cpp)
  void resolveAgainstTarget();

  // What a symbol of a new object is in the patch (index into symbols).
  uint32_t copiedSymbol(size_t obj, uint32_t sym);
  uint32_t anonSymbol(size_t obj, uint32_t section);
  uint32_t refSymbol(llvm::StringRef name, llvm::StringRef source, bool inModule,
                     llvm::StringRef fullSource = "");
  void checkLocalName(llvm::StringRef name, llvm::StringRef source,
                      llvm::StringRef fullSource);
  uint32_t slotFor(uint32_t target);
  uint32_t stubFor(uint32_t target);
  // Thread-local accesses (tls.cpp).
  void retargetTls(SectionRef at, const Reloc &r, const Target &t);
  std::optional<uint32_t> tlsTarget(SectionRef at, const Reloc &r,
                                    const Target &t);
  uint32_t tlsSlotFor(uint32_t target, TlsUse use);
  uint32_t tlsDescReturnSymbol();

  void addRefusal(llvm::StringRef file, const llvm::Twine &why) {
    refusals.add(file, why);
  }
  /// "function 'f'" or "variable 'v'" for the symbol a section holds.
  static std::string ownerOf(const Object &obj, uint32_t sec) {
    const auto &known = obj.knownInSection[sec];
    if (known.size() != 1)
      return ("section " + obj.sections[sec].name).str();
    llvm::StringRef name = obj.symbols[known.front()].name;
    return (obj.functions.count(name) ? "function '" : "variable '") +
           name.str() + "'";
  }
  /// Whether a section the closure reached was placed (it was not when
  /// that reference was refused).
  bool isPlaced(size_t obj, uint32_t sec) const {
    return placed.count({obj, sec}) > 0;
  }

  /// The TU of pair \p i as the running program's symbol table names it.
  std::string oldSource(size_t i) const {
    return oldObjs[i] ? oldObjs[i]->source() : newObjs[i]->source();
  }
  std::string oldFullSource(size_t i) const {
    const Object &o = oldObjs[i] ? *oldObjs[i] : *newObjs[i];
    return o.table.sourceFile.empty() ? o.path : o.table.sourceFile;
  }

  const DiffOptions &opts;
  std::string targetPath; // --target, or the old binary
  const Arch *arch = nullptr;
  std::vector<std::unique_ptr<Object>> oldObjs, newObjs; // by pair; old may be null
  Refusals refusals;
  DiffResult result;

  // Per new object: status of each table function and variable by name.
  std::vector<llvm::StringMap<Status>> fnStatus, varStatus;
  // Per new object: why a changed or new function is in the patch.
  std::vector<llvm::StringMap<std::string>> fnWhy;
  // Per new object: changed functions whose source and callees are the
  // same (a constant folded into them changed, most likely).
  std::vector<llvm::StringSet<>> contextChanged;
  // Per new object: variables copied into the patch (new or changed const).
  std::vector<llvm::StringSet<>> copyVar;
  // Per new object: local variable renamed by the compiler: new -> old name.
  std::vector<llvm::StringMap<std::string>> renamed;
  // Global symbols defined by the new objects: name -> (object, symbol).
  llvm::StringMap<std::pair<size_t, uint32_t>> newGlobals;
  llvm::StringSet<> oldGlobals;
  llvm::StringSet<> removedFunctions;

  // Sections of new objects copied into the patch, and where they went.
  std::set<SectionRef> toCopy;
  std::vector<SectionRef> work; // the closure's queue
  std::map<SectionRef, std::pair<PatchSection, uint64_t>> placed;
  std::map<std::pair<size_t, uint32_t>, uint32_t> copiedSyms, anonSyms;
  std::map<std::pair<std::string, std::string>, uint32_t> refs;
  std::map<std::pair<std::string, std::string>, std::string> refTU;
  // Replaced function -> its old object and symbol (for --target checks).
  std::map<std::string, std::pair<const Object *, uint32_t>> origins;
  // New -fcommon variables, allocated in .hp.bss: (object, symbol) -> index.
  std::map<std::pair<size_t, uint32_t>, uint32_t> commonSyms;
  // Global symbols of the old build: which pair's old object defines them.
  llvm::StringMap<const Object *> oldFnOwner, oldVarOwner;
  // Per new object: functions whose old code is in another pair's object.
  std::vector<llvm::StringMap<const Object *>> fnOldOwner;
  // Objects only in the old tree (a TU that was deleted).
  std::vector<std::unique_ptr<Object>> oldOnly;
  llvm::DenseMap<uint32_t, uint32_t> slots, stubs;
  // Per new object: its .eh_frame, cut into entries.
  std::vector<FrameTable> frames;
  // Sections copied for the unwind tables.
  std::set<SectionRef> unwindData;
  // (target, TlsUse) -> the patch's slot, pair or descriptor for it.
  std::map<std::pair<uint32_t, TlsUse>, uint32_t> tlsSlots;
  std::optional<uint32_t> tlsDescReturn; // the descriptor function, once
  PatchFile &patch = result.patch;
};

} // namespace hotpatch

#endif
