//===- diff/unwind.cpp - the patch's unwind tables ------------------------===//
//
// An exception, a thread's cancellation or a backtrace crosses a function
// by its call-frame information (.eh_frame: a CIE that many functions
// share, and an FDE per function) and stops in it to catch or clean up by
// its language-specific data area (the LSDA, in .gcc_except_table). A
// patch carries both for every function it copies:
//
//   closure   a copied function's FDE and CIE point at its LSDA and at the
//             slot holding the personality routine's address; the LSDA at
//             the slots holding its type infos' addresses. These are
//             copied like any data the code reads, writable slots too: the
//             patch's unwind tables are their only reader.
//   emit      the CIEs and FDEs of the copied functions, taken from each
//             object's .eh_frame with their relocations, become one
//             .eh_frame in the patch's read-only data, ended by a zero
//             word and named `__hp_eh_frame`; `__hp_unwind_object` is room
//             in .hp.bss for the unwinder's bookkeeping of it. hp-apply
//             registers it with the target's unwinder before the commit.
//
// The entries are only framed here (length, CIE pointer); what they say is
// the unwinder's business, and the bytes are copied as the compiler wrote
// them.
//
//===----------------------------------------------------------------------===//

#include "differ-state.h"

#include "llvm/Support/Endian.h"
#include "llvm/Support/FormatVariadic.h"

using namespace llvm;

namespace hotpatch {

/// Cuts object \p objIndex's .eh_frame into its CIEs and FDEs and finds
/// which code section each FDE describes (by the relocation of its
/// pc_begin field).
void Differ::indexFrames(size_t objIndex) {
  const Object &obj = *newObjs[objIndex];
  FrameTable &table = frames[objIndex];
  for (uint32_t i = 0; i < obj.sections.size(); ++i)
    if (obj.sections[i].name == ".eh_frame" && !obj.sections[i].linked)
      table.section = i;
  if (!table.section)
    return;
  const Section &sec = obj.sections[table.section];
  ArrayRef<uint8_t> bytes = sec.data;
  auto refuse = [&](const Twine &why) {
    addRefusal(obj.source(), ".eh_frame: " + why);
    table = FrameTable();
  };
  for (uint64_t at = 0; at + 4 <= bytes.size();) {
    uint32_t length = support::endian::read32le(bytes.data() + at);
    if (length == 0)
      break; // the terminator
    if (length == 0xffffffff)
      return refuse("64-bit DWARF entries are not handled");
    if (length < 4 || at + 4 + length > bytes.size())
      return refuse(formatv("entry at {0:x} runs past the section", at));
    uint32_t id = support::endian::read32le(bytes.data() + at + 4);
    FrameEntry entry{at, 4 + uint64_t(length), at, {}};
    if (id != 0) {
      if (id > at + 4)
        return refuse(formatv("FDE at {0:x} points before the section", at));
      entry.cie = at + 4 - id;
    }
    table.entries.push_back(std::move(entry));
    at += 4 + uint64_t(length);
  }
  for (uint32_t r = 0; r < sec.relocs.size(); ++r) {
    uint64_t off = sec.relocs[r].offset;
    auto it = llvm::upper_bound(table.entries, off, [](uint64_t o, const FrameEntry &e) {
      return o < e.offset;
    });
    if (it == table.entries.begin() || off >= std::prev(it)->offset + std::prev(it)->size)
      continue;
    FrameEntry &entry = *std::prev(it);
    entry.relocs.push_back(r);
    if (entry.cie == entry.offset || off != entry.offset + 8)
      continue;
    // pc_begin: which code this FDE is for.
    const Symbol &sym = obj.symbols[sec.relocs[r].symbol];
    if (sym.shndx < obj.sections.size())
      table.fdeOf[sym.shndx] = std::prev(it) - table.entries.begin();
  }
}

const Differ::FrameEntry *Differ::entryAt(size_t objIndex, uint64_t offset) const {
  const FrameTable &table = frames[objIndex];
  auto it = llvm::lower_bound(table.entries, offset, [](const FrameEntry &e, uint64_t o) {
    return e.offset < o;
  });
  return it != table.entries.end() && it->offset == offset ? &*it : nullptr;
}

/// The closure's part: what code section \p code's FDE and its CIE point
/// at (its LSDA, the personality's slot) is copied too.
void Differ::followUnwind(SectionRef code) {
  auto [objIndex, secIndex] = code;
  const FrameTable &table = frames[objIndex];
  auto fde = table.fdeOf.find(secIndex);
  if (fde == table.fdeOf.end())
    return;
  const FrameEntry &entry = table.entries[fde->second];
  const FrameEntry *cie = entryAt(objIndex, entry.cie);
  const Section &eh = newObjs[objIndex]->sections[table.section];
  auto followAll = [&](const FrameEntry &e, bool skipPcBegin) {
    for (uint32_t r : e.relocs)
      if (!(skipPcBegin && eh.relocs[r].offset == e.offset + 8))
        follow({objIndex, table.section}, eh.relocs[r]);
  };
  followAll(entry, /*skipPcBegin=*/true);
  if (cie)
    followAll(*cie, false);
}

/// The emit's part: one .eh_frame for the whole patch, in its read-only
/// data. Each object's share is a section of its own (so that its
/// relocations are retargeted like any copied section's), placed back to
/// back with the others and ended by a zero word.
void Differ::emitUnwindTables() {
  auto &rodata = patch.sections[unsigned(PatchSection::Rodata)];
  uint64_t start = 0, end = 0;
  for (size_t objIndex = 0; objIndex < newObjs.size(); ++objIndex) {
    FrameTable &table = frames[objIndex];
    if (!table.section)
      continue;
    Object &obj = *newObjs[objIndex];
    const Section &eh = obj.sections[table.section];
    std::vector<uint8_t> bytes;
    std::vector<Reloc> relocs;
    std::map<uint64_t, uint64_t> cieAt; // in .eh_frame -> in bytes
    auto copy = [&](const FrameEntry &e) {
      uint64_t to = bytes.size();
      bytes.insert(bytes.end(), eh.data.begin() + e.offset,
                   eh.data.begin() + e.offset + e.size);
      for (uint32_t r : e.relocs) {
        Reloc moved = eh.relocs[r];
        moved.offset = moved.offset - e.offset + to;
        relocs.push_back(moved);
      }
      return to;
    };
    for (auto [codeObj, codeSec] : toCopy) {
      if (codeObj != objIndex || !isPlaced(codeObj, codeSec) ||
          !(obj.sections[codeSec].flags & ELF::SHF_EXECINSTR))
        continue;
      auto fde = table.fdeOf.find(codeSec);
      if (fde == table.fdeOf.end())
        continue;
      const FrameEntry &entry = table.entries[fde->second];
      const FrameEntry *cie = entryAt(objIndex, entry.cie);
      if (!cie) {
        addRefusal(obj.source(), formatv("{0}: its FDE names no CIE",
                                         ownerOf(obj, codeSec)));
        continue;
      }
      auto known = cieAt.find(cie->offset);
      if (known == cieAt.end())
        known = cieAt.emplace(cie->offset, copy(*cie)).first;
      uint64_t to = copy(entry);
      support::endian::write32le(bytes.data() + to + 4, uint32_t(to + 4 - known->second));
    }
    if (bytes.empty())
      continue;
    // A section of the object, placed by hand: back to back with the
    // other objects' shares.
    uint8_t *mem = obj.alloc.Allocate<uint8_t>(bytes.size());
    std::copy(bytes.begin(), bytes.end(), mem);
    Section share;
    share.name = obj.saver.save(".eh_frame(patch)");
    share.type = ELF::SHT_PROGBITS;
    share.flags = ELF::SHF_ALLOC;
    share.size = bytes.size();
    share.align = 8;
    share.data = ArrayRef<uint8_t>(mem, bytes.size());
    share.relocs = std::move(relocs);
    uint32_t index = obj.sections.size();
    obj.sections.push_back(std::move(share));
    obj.knownInSection.emplace_back();
    if (!end) {
      rodata.resize(alignTo(rodata.size(), 8), 0);
      start = rodata.size();
    }
    placed[{objIndex, index}] = {PatchSection::Rodata, rodata.size()};
    toCopy.insert({objIndex, index});
    unwindData.insert({objIndex, index});
    rodata.insert(rodata.end(), bytes.begin(), bytes.end());
    end = rodata.size();
  }
  if (!end)
    return;
  rodata.resize(end + 4, 0); // the terminator
  auto &align = patch.align[unsigned(PatchSection::Rodata)];
  align = std::max<uint64_t>(align, 8);
  PatchSymbol frame;
  frame.name = ehFrameSymbol.str();
  frame.defined = true;
  frame.section = PatchSection::Rodata;
  frame.value = start;
  frame.size = end + 4 - start;
  patch.symbols.push_back(std::move(frame));
  // The unwinder's `struct object` for this table (libgcc's is 48-56
  // bytes), in zeroed, writable memory that outlives every revert.
  auto &bssAlign = patch.align[unsigned(PatchSection::Bss)];
  bssAlign = std::max<uint64_t>(bssAlign, 16);
  patch.bssSize = alignTo(patch.bssSize, 16);
  PatchSymbol object;
  object.name = unwindObjectSymbol.str();
  object.defined = true;
  object.section = PatchSection::Bss;
  object.value = patch.bssSize;
  object.size = unwindObjectSize;
  patch.bssSize += unwindObjectSize;
  patch.symbols.push_back(std::move(object));
}

} // namespace hotpatch
