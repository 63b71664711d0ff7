// What hp-apply needs of the kernel, on arm64: PTRACE_SEIZE a running
// child (stopping nothing), PTRACE_INTERRUPT it, read its registers with
// PTRACE_GETREGSET NT_PRSTATUS (and the system-call number with
// NT_ARM_SYSTEM_CALL), write its memory through /proc/PID/mem (a data word
// and an instruction in its read-only text), and see both writes take effect.
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef NT_ARM_SYSTEM_CALL
#define NT_ARM_SYSTEM_CALL 0x404
#endif

#define CHECK(c, ...) do { if (!(c)) { printf("FAIL: " __VA_ARGS__); printf(" (%s)\n", strerror(errno)); return 1; } } while (0)

static volatile long shared_word = 1;
// A function whose first instruction the parent rewrites: `mov w0, #1` -> `mov w0, #7`.
__attribute__((noinline, aligned(16))) int answer(void) {
  int r;
  __asm__ volatile("mov %w0, #1" : "=r"(r));
  return r;
}

int main(void) {
  int pipefd[2];
  CHECK(pipe(pipefd) == 0, "pipe");
  pid_t child = fork();
  if (child == 0) {
    // Spin until the word changes, then report answer() and exit.
    close(pipefd[0]);
    while (shared_word == 1) {}
    int a = answer();
    if (write(pipefd[1], &a, sizeof a) != sizeof a) _exit(3);
    _exit(shared_word == 42 ? 0 : 2);
  }
  close(pipefd[1]);
  CHECK(ptrace(PTRACE_SEIZE, child, 0, 0) == 0, "PTRACE_SEIZE");
  CHECK(ptrace(PTRACE_INTERRUPT, child, 0, 0) == 0, "PTRACE_INTERRUPT");
  int status;
  CHECK(waitpid(child, &status, __WALL) == child && WIFSTOPPED(status), "wait for stop");

  struct user_regs_struct regs; // glibc's name for the kernel's user_pt_regs
  struct iovec iov = {&regs, sizeof regs};
  CHECK(ptrace(PTRACE_GETREGSET, child, (void *)NT_PRSTATUS, &iov) == 0, "GETREGSET NT_PRSTATUS");
  CHECK(iov.iov_len == sizeof regs, "regset size %zu", iov.iov_len);
  printf("child pc=%#llx sp=%#llx pstate=%#llx\n", (unsigned long long)regs.pc,
         (unsigned long long)regs.sp, (unsigned long long)regs.pstate);
  CHECK(regs.pc != 0 && regs.sp != 0, "registers look empty");
  int sysno = 0;
  struct iovec iov2 = {&sysno, sizeof sysno};
  CHECK(ptrace(PTRACE_GETREGSET, child, (void *)NT_ARM_SYSTEM_CALL, &iov2) == 0,
        "GETREGSET NT_ARM_SYSTEM_CALL");
  printf("child syscallno=%d\n", sysno);

  char path[64];
  snprintf(path, sizeof path, "/proc/%d/mem", child);
  int mem = open(path, O_RDWR);
  CHECK(mem >= 0, "open %s", path);
  // Text first: the instruction at answer() (read-only mapping: a forced write).
  uint32_t insn;
  CHECK(pread(mem, &insn, 4, (uintptr_t)&answer) == 4, "read text");
  // movz wN, #1 (the compiler picks N): the same with #7.
  CHECK((insn & 0xffe00000) == 0x52800000, "unexpected insn %#x", insn);
  uint32_t patched = (insn & ~(0xffffu << 5)) | (7u << 5);
  CHECK(pwrite(mem, &patched, 4, (uintptr_t)&answer) == 4, "write text");
  long v = 42;
  CHECK(pwrite(mem, &v, sizeof v, (uintptr_t)&shared_word) == sizeof v, "write data");
  long back = 0;
  CHECK(pread(mem, &back, sizeof back, (uintptr_t)&shared_word) == sizeof back && back == 42,
        "read back %ld", back);
  close(mem);
  CHECK(ptrace(PTRACE_DETACH, child, 0, 0) == 0, "PTRACE_DETACH");
  int a = 0;
  CHECK(read(pipefd[0], &a, sizeof a) == sizeof a, "read answer");
  CHECK(waitpid(child, &status, 0) == child, "wait exit");
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child saw no data write (status %#x)", status);
  CHECK(a == 7, "child ran the old instruction: answer() = %d", a);
  printf("ptrace smoke: seize, regsets, /proc/PID/mem data and text writes seen\n");
  return 0;
}
