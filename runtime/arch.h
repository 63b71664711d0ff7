//===- runtime/arch.h - what differs between architectures --------*- C++ -*-===//
//
// Shared code never names an opcode, a register or a relocation number: it
// asks the Arch for the target's machine. The factory picks by ELF e_machine,
// so hp-diff on an x86_64 host writes aarch64 patches and tests both. All
// encoders are pure functions of their arguments.
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_RUNTIME_ARCH_H
#define HOTPATCH_RUNTIME_ARCH_H

#include "prologue.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace hotpatch {

/// What a relocation in a function or data section asks of the patch writer.
enum class RelocKind {
  None,      ///< no effect (R_*_NONE)
  Absolute,  ///< S + A stored as an address (or part of one): any target
  PCRel,     ///< S + A - P data or code reference: the target must be in reach
  Call,      ///< direct call or tail call: outside the module, via a stub
  GotLoad,   ///< loads S's address from a GOT entry: becomes a slot reference
  ThreadLocal, ///< part of a TLS access sequence: see Arch::tlsAccess
  Unsupported, ///< anything else: refused by name
};

/// What a thread-local access relocation asks of the patch writer. The
/// access sequences keep their instructions; what they address changes.
enum class TlsUse {
  TpOffset,   ///< the field holds S's offset from the thread pointer (local exec)
  DtpOffset,  ///< the field holds S's offset in its module's TLS block
  GotTpOffset, ///< addresses an 8-byte slot holding S's TP offset (initial exec)
  GotIndex,   ///< addresses a tls_index {module id, S's DTP offset} (general dynamic)
  GotModule,  ///< addresses a tls_index {module id, 0} (local dynamic)
  Descriptor, ///< addresses a 16-byte TLS descriptor for S (gnu2 / aarch64 desc)
  Marker,     ///< marks an instruction of a sequence; writes nothing (TLSDESC_CALL)
};
struct TlsAccess {
  TlsUse use;
  /// For the Got* and Descriptor uses: the type that addresses the patch's
  /// own slot instead (the instruction is unchanged). Else the type itself.
  uint32_t slotAccessType;
};
/// What a TLS relocation of a patch stores, as a loader computes it.
enum class TlsValue {
  TpOffset,  ///< S's offset from the thread pointer
  DtpOffset, ///< S's offset in its module's TLS block
  ModuleId,  ///< the TLS module id of S's module (for __tls_get_addr)
};
/// The dynamic relocation types that fill TLS GOT entries: the patch's
/// (an 8-byte word each) and the module's own (read back at apply time).
enum class TlsFill {
  TpOffset,   ///< R_X86_64_TPOFF64, R_AARCH64_TLS_TPREL64
  DtpOffset,  ///< R_X86_64_DTPOFF64, R_AARCH64_TLS_DTPREL64
  ModuleId,   ///< R_X86_64_DTPMOD64, R_AARCH64_TLS_DTPMOD64
  Descriptor, ///< R_X86_64_TLSDESC, R_AARCH64_TLSDESC (16 bytes; modules only)
};

/// A patch's reference to the start of its module's TLS block (the local-
/// dynamic base descriptor sequences use; linkers define it per module).
inline constexpr const char tlsModuleBaseName[] = "_TLS_MODULE_BASE_";
/// The patch's TLS descriptor function (Arch::tlsDescReturnCode), in .hp.plt.
inline constexpr const char tlsDescReturnName[] = "tlsdesc@return";

/// A relocation inside a stub (offset within the stub, type, addend); the
/// symbol is always the stub's slot.
struct StubReloc {
  uint32_t offset;
  uint32_t type;
  int64_t addend;
};

/// Numbers of Linux's system-call interface that are the same on every
/// machine hp-apply supports (calls made in the target: Target::syscall).
namespace linuxabi {
constexpr uint64_t protRead = 1, protWrite = 2, protExec = 4;
constexpr uint64_t mapPrivate = 0x02, mapFixed = 0x10, mapAnonymous = 0x20,
                   mapFixedNoReplace = 0x100000;
constexpr uint64_t mfdCloexec = 1;
/// Whether a raw call's result is an error: -4095..-1 are -errno.
constexpr bool isErrno(int64_t rc) { return rc < 0 && rc >= -4095; }
} // namespace linuxabi

class Arch {
public:
  virtual ~Arch();
  virtual uint16_t eMachine() const = 0;
  virtual llvm::StringRef name() const = 0;
  /// The patchable prologue (format/prologue.h).
  virtual const PrologueShape &prologue() const = 0;

  /// Where the patchable NOP is, relative to the entry symbol, given the
  /// bytes from the start of the padding (\p padAndEntry holds padBefore
  /// and up to 8 entry bytes, fewer in a tiny function). Fails naming what
  /// was found when these bytes are not the hotpatch prologue (built without
  /// the plugin, already patched).
  virtual llvm::Expected<unsigned>
  patchSiteOffset(llvm::ArrayRef<uint8_t> padAndEntry) const = 0;

  virtual RelocKind classify(uint32_t relocType) const = 0;
  /// For a GotLoad relocation: the type that instead addresses the slot
  /// itself (the instruction keeps loading through it).
  virtual uint32_t slotAccessType(uint32_t gotRelocType) const = 0;
  /// The type that stores a slot's 8-byte address (R_*_ABS64 or _64).
  virtual uint32_t slotFillType() const = 0;
  /// The type a Call relocation keeps when retargeted to a stub.
  virtual uint32_t callType(uint32_t originalCallType) const {
    return originalCallType;
  }

  /// For a RelocKind::ThreadLocal type: how the patch reaches what it
  /// accesses; nullopt for a TLS type hp-diff does not handle (named in
  /// its refusal).
  virtual std::optional<TlsAccess> tlsAccess(uint32_t relocType) const = 0;
  /// The type that fills an 8-byte slot with \p fill (R_X86_64_TPOFF64...).
  virtual uint32_t tlsFillType(TlsFill fill) const = 0;
  /// For a relocation type a patch may hold: the thread-local value it
  /// stores, or nullopt when it is not a TLS type.
  virtual std::optional<TlsValue> tlsValue(uint32_t relocType) const = 0;
  /// A TLS descriptor function for static TLS: it returns the descriptor's
  /// second word (the TP offset), as ld.so's _dl_tlsdesc_return does, and
  /// preserves every other register.
  virtual llvm::SmallVector<uint8_t, 16> tlsDescReturnCode() const = 0;
  /// Whether \p code (bytes read at a resolved TLS descriptor's function)
  /// is such a return-the-argument function: then the descriptor's second
  /// word is the TP offset.
  virtual bool isTlsDescReturn(llvm::ArrayRef<uint8_t> code) const = 0;
  /// The TP offset of the executable's TLS block (the main program's,
  /// module 1), which the ABI fixes and the linker hard-codes into its
  /// local-exec accesses, from its PT_TLS header.
  virtual int64_t execTlsBlockOffset(uint64_t pVaddr, uint64_t pMemsz,
                                     uint64_t pAlign) const = 0;

  /// A stub that jumps to the address held in its slot; \p relocs receives
  /// the relocations (against the slot) the stub needs.
  virtual llvm::SmallVector<uint8_t, 16>
  stubCode(llvm::SmallVectorImpl<StubReloc> &relocs) const = 0;
  /// Bytes that fill space between functions (traps, never NOPs).
  virtual uint8_t fillByte() const = 0;

  /// Bytes of code or data a linker may rewrite for a relocation at offset
  /// 0: [-before, size). Comparing an object with its linked form masks them.
  virtual std::pair<unsigned, unsigned> relocExtent(uint32_t type) const = 0;

  // --- Reading linked code (hp-diff on binaries) ------------------------

  /// The LLVM triple that decodes this machine's code ("x86_64-linux-gnu").
  virtual llvm::StringRef triple() const = 0;
  /// A binary linked with --emit-relocs keeps each relocation, but its
  /// bytes hold the linker's work: the value stored, and instructions the
  /// linker rewrote ("relaxed": a GOT load made a direct address). Puts back
  /// at \p offset of \p code (the function or data holding the relocation)
  /// what the compiler wrote, so the relocation applies again anywhere.
  /// Fails, naming the rewrite, where it cannot be undone.
  virtual llvm::Error asCompiled(uint32_t type, llvm::MutableArrayRef<uint8_t> code,
                                 uint64_t offset) const = 0;

  /// A relocation kept in a linked binary gives S + A; the address the code
  /// means is S + A plus the bytes from the field to the point the machine
  /// counts from. Those bytes, as a range [first, last] over every
  /// instruction: x86
  /// counts from the end of the instruction, after the 4-byte field and at
  /// most a 4-byte immediate ([4, 8]); aarch64 from the instruction itself
  /// ([0, 0]). When first == last, no code needs decoding.
  virtual std::pair<unsigned, unsigned> pcRelFieldReach() const = 0;

  /// Measures instructions of linked code. One per binary read: it keeps
  /// what it decoded, and is not shared between threads.
  class CodeReader {
  public:
    virtual ~CodeReader();
    /// The bytes from the field at \p fieldOffset of \p code (a whole
    /// function at \p codeAddr, decoded from its first byte) to the point
    /// its instruction counts from. Fails when the code cannot be decoded,
    /// or the field lies past its last instruction.
    virtual llvm::Expected<unsigned> fieldReach(llvm::ArrayRef<uint8_t> code,
                                                uint64_t codeAddr,
                                                uint64_t fieldOffset) = 0;
  };
  /// A reader for this machine's code; fails when LLVM has no disassembler
  /// for it.
  virtual llvm::Expected<std::unique_ptr<CodeReader>> makeCodeReader() const = 0;

  /// "R_X86_64_PC32", or "relocation type N" when unknown.
  std::string relocName(uint32_t type) const;

  // --- Apply time -------------------------------------------------------

  /// Writes the value of relocation \p type at \p loc (address \p place in
  /// the target) for symbol address \p sym and \p addend. Fails when the
  /// value does not fit (the patch was placed out of reach) or the type is
  /// not one hp-diff emits.
  virtual llvm::Error applyReloc(uint32_t type, uint8_t *loc, uint64_t place,
                                 uint64_t sym, int64_t addend) const = 0;

  /// The redirect of one function: new padding bytes (what goes before the
  /// entry) and the store that turns the entry NOP into a jump to them.
  /// Pure and infallible: the padding always fits a far jump.
  struct Redirect {
    llvm::SmallVector<uint8_t, 16> pad; ///< written at entry - padBefore
    llvm::SmallVector<uint8_t, 4> site; ///< written at entry + siteOffset
  };
  virtual Redirect encodeRedirect(uint64_t entryAddr, unsigned siteOffset,
                                  uint64_t target) const = 0;

  /// A gate: the code a patched entry reaches first, in the patch, until
  /// the patch commits. It reads the byte at \p commitAddr: zero, it goes
  /// to \p back (what the function did before: the code after its entry
  /// NOP, or an earlier patch's code); non-zero, to \p target (the new
  /// code). Every function of a patch goes through its gate while the
  /// entries are flipped one by one; the one-byte commit store then
  /// switches them all at once, so the process never runs half a patch.
  /// Fails when an address is out of the encoding's reach.
  virtual llvm::Expected<llvm::SmallVector<uint8_t, 64>>
  encodeGate(uint64_t gateAddr, uint64_t commitAddr, uint64_t back,
             uint64_t target) const = 0;
  /// Bytes each gate takes (a multiple of 16).
  virtual unsigned gateSize() const = 0;

  /// Return gates (return-gates.h): where a thread still inside a replaced
  /// function returns to instead of its caller, so that strict learns the
  /// moment it leaves. Each gate is a 32-byte slot; a thread enters it
  /// \c entry bytes in (the bytes before belong to the slot, so that an
  /// unwinder looking up `return address - 1` finds the slot's FDE).
  struct ReturnGateShape {
    unsigned entry;      ///< the entry's offset in its slot
    unsigned spDwarf;    ///< the stack pointer's DWARF number
    unsigned raDwarf;    ///< the return address column
    int dataAlign;       ///< the CIE's data alignment factor
    /// Where the return address lies relative to the caller's stack
    /// pointer when the call instruction pushed it (x86_64: -8); nullopt
    /// where the callee saves it somewhere in its frame (aarch64).
    std::optional<int64_t> pushedAt;
    /// The register the common code finds the gate's data by, and where in
    /// that code (offsets) it lives on the stack instead, at the stack pointer.
    unsigned scratchDwarf;
    unsigned scratchSpilledFrom, scratchSpilledTo;
  };
  virtual ReturnGateShape returnGateShape() const = 0;
  /// Whether \p before, the bytes up to \p returnAddr, end with a direct
  /// call into [lo, hi): proof that \p returnAddr is the return address of
  /// a frame there (a gate is armed on an innermost frame only with it).
  virtual bool directCallInto(llvm::ArrayRef<uint8_t> before, uint64_t returnAddr,
                              uint64_t lo, uint64_t hi) const = 0;
  /// A gate's slot at \p slotAddr: it sets the fired byte at
  /// \p dataAddr + 8, then goes to the common code at \p commonAddr with
  /// \p dataAddr (where the caller's return address is kept) in a
  /// scratch register. Clobbers only registers that are dead at a return.
  virtual llvm::SmallVector<uint8_t, 32>
  encodeReturnGate(uint64_t slotAddr, uint64_t dataAddr, uint64_t commonAddr) const = 0;
  /// The code every gate goes on to, at \p at: while the 32-bit word at
  /// \p holdAddr is 1, it waits there once (futex, at most the timespec
  /// at \p timeoutAddr), keeping the callee's return registers; then it
  /// returns to the caller.
  virtual llvm::SmallVector<uint8_t, 128>
  encodeReturnGateCommon(uint64_t at, uint64_t holdAddr, uint64_t timeoutAddr) const = 0;

  /// The end of the user half of the address space: a process has nothing
  /// of its own at or above it (x86_64's vsyscall page is the kernel's).
  virtual uint64_t userAddressEnd() const = 0;

  /// System-call numbers of this machine's Linux ABI.
  virtual uint64_t sysMmap() const = 0;
  virtual uint64_t sysMunmap() const = 0;
  virtual uint64_t sysMemfdCreate() const = 0;
  virtual uint64_t sysClose() const = 0;
  virtual uint64_t sysFutex() const = 0;

};

/// Host-only (the backend of the machine hp-apply runs on implements them):
/// Runs system call \p nr with \p args in the stopped thread \p tid: the
/// thread runs a `syscall` we write at \p cave (executable memory nobody
/// runs, at least 256 bytes), followed by code that puts its registers
/// back, so that it carries on unharmed even if we die before restoring
/// them ourselves. \p write stores bytes in the target. Returns the raw
/// result (a negative errno on failure).
llvm::Expected<int64_t>
injectSyscall(int tid, uint64_t cave, uint64_t nr, llvm::ArrayRef<uint64_t> args,
              llvm::function_ref<llvm::Error(uint64_t, llvm::ArrayRef<uint8_t>)> write);
/// Calls the function at \p fnAddr with \p args in the stopped thread
/// \p tid, on its own stack below the red zone; it returns into code at
/// \p cave that hands us its result and puts the registers back (as for
/// injectSyscall). Used to run IFUNC resolvers and to register unwind
/// tables. With \p patienceNs, a call still waiting in a futex (a lock)
/// after that long is stopped there and undone: InjectedCallStuck. Only
/// for functions that change nothing before they take their lock.
llvm::Expected<uint64_t>
injectCall(int tid, uint64_t fnAddr, llvm::ArrayRef<uint64_t> args, uint64_t cave,
           llvm::function_ref<llvm::Error(uint64_t, llvm::ArrayRef<uint8_t>)> write,
           uint64_t patienceNs = 0);

/// An injected call that waited on a lock for longer than it was given.
class InjectedCallStuck : public llvm::ErrorInfo<InjectedCallStuck> {
public:
  static char ID;
  InjectedCallStuck(int tid, uint64_t patienceNs) : tid(tid), patienceNs(patienceNs) {}
  void log(llvm::raw_ostream &os) const override;
  std::error_code convertToErrorCode() const override {
    return std::make_error_code(std::errc::resource_unavailable_try_again);
  }
  int tid;
  uint64_t patienceNs;
};

/// Whether the stopped thread \p tid is in (or was interrupted in) a
/// system call.
bool stoppedInSystemCall(int tid);

/// What a remote unwinder starts from, for a stopped thread.
struct UnwindRegisters {
  llvm::SmallVector<uint64_t, 40> dwarf; ///< numbered as the psABI's DWARF
  uint64_t pc = 0, sp = 0;
  /// The thread pointer when the same read gives it (x86_64's fs_base: the
  /// thread control block), else 0.
  uint64_t threadPointer = 0;
  /// The register a call leaves its return address in, on a machine that
  /// has one (aarch64's x30), else 0. A leaf keeps it nowhere else: its
  /// caller's frame is seen on no stack.
  uint64_t linkRegister = 0;
  /// The bits of a code address. A return address signed with pointer
  /// authentication (aarch64 pac-ret: paciasp) keeps its signature in the
  /// others, on the stack and in the frames an unwinder reads back;
  /// `addr & codeMask` is the address itself.
  uint64_t codeMask = ~0ull;
};
/// Reads \p out for the stopped thread \p tid (one system call).
llvm::Error unwindRegisters(int tid, UnwindRegisters &out);

/// The backend for \p eMachine, or an error naming the machine.
llvm::Expected<const Arch &> getArch(uint16_t eMachine);

/// The backend of the machine hp-apply runs on (what the kernel says it
/// is), or an error naming an unsupported one. Processes it patches are of
/// this machine.
llvm::Expected<const Arch &> hostArch();

} // namespace hotpatch

#endif
