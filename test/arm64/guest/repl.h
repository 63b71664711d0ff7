// test/arm64/guest/repl.h - what the live guest tests share: a REPL target
// (test/e2e/Inputs/shared.py's) driven through pipes, and hp-apply run on it.
#ifndef HP_ARM64_REPL_H
#define HP_ARM64_REPL_H
// (Each test uses some of these.)
#pragma clang diagnostic ignored "-Wunused-function"
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

// Fails the test, saying why (the runner prints the test's output).
static void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("FAIL: ");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  fflush(stdout);
  exit(1);
}
#define CHECK(cond, ...) do { if (!(cond)) fail(__VA_ARGS__); } while (0)

struct target {
  pid_t pid;
  FILE *in, *out;
};

static struct target spawn(const char *path) {
  int to[2], from[2];
  CHECK(pipe(to) == 0 && pipe(from) == 0, "pipe: %s", strerror(errno));
  struct target t;
  t.pid = fork();
  CHECK(t.pid >= 0, "fork: %s", strerror(errno));
  if (t.pid == 0) {
    dup2(to[0], 0);
    dup2(from[1], 1);
    close(to[1]);
    close(from[0]);
    execl(path, path, (char *)NULL);
    _exit(127);
  }
  close(to[0]);
  close(from[1]);
  t.in = fdopen(to[1], "w");
  t.out = fdopen(from[0], "r");
  setvbuf(t.in, NULL, _IOLBF, 0);
  return t;
}

// Sends one line, returns the answer (static buffer, without the newline).
static const char *ask(struct target *t, const char *line) {
  static char answer[256];
  fprintf(t->in, "%s\n", line);
  fflush(t->in);
  CHECK(fgets(answer, sizeof answer, t->out), "no answer to '%s' (target died?)", line);
  answer[strcspn(answer, "\n")] = 0;
  return answer;
}

static int alive(struct target *t) {
  int status;
  return waitpid(t->pid, &status, WNOHANG) == 0;
}

// Runs argv; its stdout (and stderr) into out. Returns the exit status, or
// -1 when it did not exit normally.
static int run(char *const argv[], char *out, size_t n) {
  int p[2];
  CHECK(pipe(p) == 0, "pipe");
  pid_t pid = fork();
  if (pid == 0) {
    dup2(p[1], 1);
    dup2(p[1], 2);
    close(p[0]);
    execv(argv[0], argv);
    _exit(127);
  }
  close(p[1]);
  size_t got = 0;
  ssize_t r;
  while (got + 1 < n && (r = read(p[0], out + got, n - 1 - got)) > 0)
    got += r;
  out[got] = 0;
  close(p[0]);
  int status;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// hp-apply -p PID --json ARGS...: its report (static buffer); fails the
// test when it exits with another status than \p expect.
static const char *hp_apply(pid_t pid, int expect, ...) {
  static char out[8192];
  char pidbuf[16];
  snprintf(pidbuf, sizeof pidbuf, "%d", (int)pid);
  char *argv[16] = {"/bin/hp-apply", "-p", pidbuf, "--json"};
  int argc = 4;
  va_list ap;
  va_start(ap, expect);
  for (char *a; argc < 15 && (a = va_arg(ap, char *));)
    argv[argc++] = a;
  va_end(ap);
  argv[argc] = NULL;
  int status = run(argv, out, sizeof out);
  printf("hp-apply:");
  for (int i = 1; i < argc; ++i)
    printf(" %s", argv[i]);
  printf(" -> %d: %s\n", status, out);
  CHECK(status == expect, "hp-apply exited %d, not %d", status, expect);
  return out;
}

// Whether the JSON \p report has "key": value (value as JSON text),
// whatever the spacing.
static int has(const char *report, const char *key, const char *value) {
  char compact[8192];
  size_t n = 0;
  int quoted = 0;
  for (const char *p = report; *p && n + 1 < sizeof compact; ++p) {
    if (*p == '"' && (p == report || p[-1] != '\\'))
      quoted = !quoted;
    if (quoted || (*p != ' ' && *p != '\n'))
      compact[n++] = *p;
  }
  compact[n] = 0;
  char want[256];
  snprintf(want, sizeof want, "\"%s\":%s", key, value);
  return strstr(compact, want) != NULL;
}

// The number after "key": in the JSON \p report (the first one); -1 when
// it has none.
static long long num(const char *report, const char *key) {
  char want[128];
  snprintf(want, sizeof want, "\"%s\":", key);
  const char *at = strstr(report, want);
  if (!at)
    return -1;
  at += strlen(want);
  while (*at == ' ')
    ++at;
  return strtoll(at, NULL, 10);
}

// Asks the target to quit; fails unless it exits 0.
static void quit(struct target *t) {
  fprintf(t->in, "quit\n");
  fflush(t->in);
  int status;
  waitpid(t->pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "target ended badly: %#x", status);
}

// The start of the first mapping of \p pid whose line holds \p path and
// \p perms (e.g. "r-xp"); 0 when none.
static unsigned long long mapping_start(pid_t pid, const char *path, const char *perms) {
  char file[64], line[512];
  snprintf(file, sizeof file, "/proc/%d/maps", (int)pid);
  FILE *f = fopen(file, "r");
  CHECK(f, "%s: %s", file, strerror(errno));
  unsigned long long start = 0;
  while (fgets(line, sizeof line, f))
    if (strstr(line, path) && strstr(line, perms)) {
      start = strtoull(line, NULL, 16);
      break;
    }
  fclose(f);
  return start;
}

// How many mappings \p pid has.
static int mappings(pid_t pid) {
  char file[64], line[512];
  snprintf(file, sizeof file, "/proc/%d/maps", (int)pid);
  FILE *f = fopen(file, "r");
  CHECK(f, "%s: %s", file, strerror(errno));
  int n = 0;
  while (fgets(line, sizeof line, f))
    ++n;
  fclose(f);
  return n;
}

// The value of symbol \p name in the ELF file \p path's .symtab (for a
// static non-PIE program, its address in the process); 0 when absent.
#include <elf.h>
static unsigned long long symbol(const char *path, const char *name) {
  FILE *f = fopen(path, "rb");
  CHECK(f, "%s: %s", path, strerror(errno));
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  char *buf = malloc(size);
  fseek(f, 0, SEEK_SET);
  CHECK(fread(buf, 1, size, f) == (size_t)size, "reading %s", path);
  fclose(f);
  Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;
  Elf64_Shdr *sh = (Elf64_Shdr *)(buf + eh->e_shoff);
  unsigned long long value = 0;
  for (int i = 0; i < eh->e_shnum && !value; ++i) {
    if (sh[i].sh_type != SHT_SYMTAB)
      continue;
    Elf64_Sym *syms = (Elf64_Sym *)(buf + sh[i].sh_offset);
    const char *strtab = buf + sh[sh[i].sh_link].sh_offset;
    for (size_t j = 0; j < sh[i].sh_size / sizeof *syms; ++j)
      if (!strcmp(strtab + syms[j].st_name, name)) {
        value = syms[j].st_value;
        break;
      }
  }
  free(buf);
  return value;
}

// Reads \p n bytes at \p addr of \p pid (through /proc/PID/mem).
#include <fcntl.h>
static void peek(pid_t pid, unsigned long long addr, void *out, size_t n) {
  char file[64];
  snprintf(file, sizeof file, "/proc/%d/mem", (int)pid);
  int fd = open(file, O_RDONLY);
  CHECK(fd >= 0, "%s: %s", file, strerror(errno));
  CHECK(pread(fd, out, n, (off_t)addr) == (ssize_t)n, "reading %s at %llx: %s", file, addr,
        strerror(errno));
  close(fd);
}
#endif
