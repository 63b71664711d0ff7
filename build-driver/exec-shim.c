/*===- build-driver/exec-shim.c - compilers named by path reach the wrapper -===
 *
 * hp-build's builds run with this library in LD_PRELOAD. A build that runs
 * its compiler by name (cc, gcc, c++...) finds hp-build's wrapper first in
 * PATH; one that names it by path (CC = /usr/bin/gcc in a Makefile, ccache
 * running /usr/bin/gcc) would not. Every exec and posix_spawn of a path
 * whose file name is one the wrapper directory holds (the directory named by
 * HP_BUILD_WRAPPERS in the new program's environment) runs the wrapper of
 * that name instead. Names without a slash are left to PATH.
 *
 * The wrapper removes HP_BUILD_WRAPPERS before it execs the real compiler
 * by path, so that exec is left alone. Only the environment passed to the
 * call is read (a shell passes its own, which `unset` changed), and
 * nothing is allocated: this runs between vfork and exec.
 *
 *===----------------------------------------------------------------------===*/

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static const char *wrappersIn(char *const envp[]) {
  static const char key[] = "HP_BUILD_WRAPPERS=";
  if (!envp)
    return NULL;
  for (char *const *e = envp; *e; ++e)
    if (!strncmp(*e, key, sizeof key - 1))
      return *e + sizeof key - 1;
  return NULL;
}

/* The wrapper to run instead of \p path, in \p buf, or \p path itself. */
static const char *redirect(const char *path, char *const envp[],
                            char buf[PATH_MAX]) {
  const char *dir = wrappersIn(envp);
  const char *slash = path ? strrchr(path, '/') : NULL;
  if (!dir || !*dir || !slash)
    return path;
  size_t n = strlen(dir);
  if (!strncmp(path, dir, n) && path[n] == '/')
    return path; /* the wrapper itself */
  int len = snprintf(buf, PATH_MAX, "%s/%s", dir, slash + 1);
  if (len <= 0 || len >= PATH_MAX || access(buf, X_OK) != 0)
    return path;
  return buf;
}

typedef int (*execve_t)(const char *, char *const[], char *const[]);
typedef int (*execvpe_t)(const char *, char *const[], char *const[]);
typedef int (*spawn_t)(pid_t *, const char *, const posix_spawn_file_actions_t *,
                       const posix_spawnattr_t *, char *const[], char *const[]);

/* Looked up once, at load: dlsym may lock and allocate, which a child
   between vfork and exec must not. */
static execve_t realExecve;
static execvpe_t realExecvpe;
static spawn_t realSpawn, realSpawnp;

__attribute__((constructor)) static void findReal(void) {
  realExecve = (execve_t)dlsym(RTLD_NEXT, "execve");
  realExecvpe = (execvpe_t)dlsym(RTLD_NEXT, "execvpe");
  realSpawn = (spawn_t)dlsym(RTLD_NEXT, "posix_spawn");
  realSpawnp = (spawn_t)dlsym(RTLD_NEXT, "posix_spawnp");
}


int execve(const char *path, char *const argv[], char *const envp[]) {
  char buf[PATH_MAX];
  return realExecve(redirect(path, envp, buf), argv, envp);
}

int execv(const char *path, char *const argv[]) {
  char buf[PATH_MAX];
  return realExecve(redirect(path, environ, buf), argv, environ);
}

int execvpe(const char *file, char *const argv[], char *const envp[]) {
  char buf[PATH_MAX];
  return realExecvpe(redirect(file, envp, buf), argv, envp);
}

int execvp(const char *file, char *const argv[]) {
  char buf[PATH_MAX];
  return realExecvpe(redirect(file, environ, buf), argv,
                                    environ);
}

int posix_spawn(pid_t *pid, const char *path,
                const posix_spawn_file_actions_t *actions,
                const posix_spawnattr_t *attr, char *const argv[],
                char *const envp[]) {
  char buf[PATH_MAX];
  return realSpawn(pid, redirect(path, envp, buf), actions,
                                      attr, argv, envp);
}

int posix_spawnp(pid_t *pid, const char *file,
                 const posix_spawn_file_actions_t *actions,
                 const posix_spawnattr_t *attr, char *const argv[],
                 char *const envp[]) {
  char buf[PATH_MAX];
  return realSpawnp(pid, redirect(file, envp, buf), actions,
                                       attr, argv, envp);
}
