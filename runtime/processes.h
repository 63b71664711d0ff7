//===- runtime/processes.h - which processes to patch --------------*- C++ -*-===//
//
// A fleet runs one binary in many processes (pre-forking servers, worker
// pools): hp-apply patches every process of a program, or a process and
// all its descendants, each as its own transaction.
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_RUNTIME_PROCESSES_H
#define HOTPATCH_RUNTIME_PROCESSES_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <vector>

namespace hotpatch {

/// Every process (but this one) whose executable is the program \p exe:
/// the same build-id when \p exe has one, else the same file (device and
/// inode). In pid order. Fails when \p exe cannot be read.
llvm::Expected<std::vector<int>> processesRunning(llvm::StringRef exe);

/// \p root and every process descended from it, root first, then in pid
/// order. Fails when \p root does not exist.
llvm::Expected<std::vector<int>> processTree(int root);

/// Whether \p pid has exited (no such process, or a zombie not reaped
/// yet): a process that is gone needs no patch.
bool processGone(int pid);

} // namespace hotpatch

#endif
