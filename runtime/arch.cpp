//===- runtime/arch.cpp - the backend factory -----------------------------===//

#include "arch.h"

#include "llvm/BinaryFormat/ELF.h"
#include "llvm/Object/ELF.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/FormatVariadic.h"

#include <sys/utsname.h>

using namespace llvm;

namespace hotpatch {

char InjectedCallStuck::ID;

void InjectedCallStuck::log(llvm::raw_ostream &os) const {
  os << llvm::formatv("thread {0} waited on a lock for {1} ms in the injected call; "
                      "it was taken back unchanged",
                      tid, patienceNs / 1000000);
}

Arch::~Arch() = default;
Arch::CodeReader::~CodeReader() = default;

std::string Arch::relocName(uint32_t type) const {
  StringRef name = object::getELFRelocationTypeName(eMachine(), type);
  if (name.empty() || name == "Unknown")
    return formatv("relocation type {0}", type).str();
  return name.str();
}

const Arch &x86_64Arch();
const Arch &aarch64Arch();

Expected<const Arch &> getArch(uint16_t eMachine) {
  switch (eMachine) {
  case ELF::EM_X86_64:
    return x86_64Arch();
  case ELF::EM_AARCH64:
    return aarch64Arch();
  default:
    return createStringError(std::errc::not_supported,
                             "machine EM_%u is not supported (x86_64, aarch64)",
                             unsigned(eMachine));
  }
}

Expected<const Arch &> hostArch() {
  utsname u;
  if (uname(&u) != 0)
    return createStringError(std::errc::not_supported, "uname failed");
  StringRef machine(u.machine);
  if (machine == "x86_64")
    return x86_64Arch();
  if (machine == "aarch64" || machine == "arm64")
    return aarch64Arch();
  return createStringError(std::errc::not_supported,
                           "this machine (%s) is not supported (x86_64, aarch64)",
                           static_cast<const char *>(u.machine));
}

} // namespace hotpatch
