// The demo (scripts/demo.sh) on arm64, and a test of it: the example
// service (examples/counter-service, built for arm64 with the plugin on
// the host, its patch made from the fixed source by hp-diff) runs in the
// guest, on loopback TCP; its bug shows (no tax on 10000 cents), the patch
// is applied while clients keep asking, the tax is right and the request
// count went on; --list, --revert-all brings the bug back, and entry-only
// applies it for good. `scripts/demo.sh --arm64` shows this output.
#include "repl.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

static void step(const char *what) { printf("\n== %s\n", what); }

static int port;

static FILE *client(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect: %s", strerror(errno));
  FILE *f = fdopen(fd, "r+");
  setvbuf(f, NULL, _IOLBF, 0);
  return f;
}

// Asks one line on a fresh connection; prints and returns the answer.
static const char *request(const char *line) {
  static char answer[256];
  FILE *f = client();
  fprintf(f, "%s\n", line);
  fflush(f);
  CHECK(fgets(answer, sizeof answer, f), "no answer to '%s'", line);
  answer[strcspn(answer, "\n")] = 0;
  fprintf(f, "quit\n");
  fclose(f);
  printf("  %-12s -> %s\n", line, answer);
  return answer;
}

// Clients asking "price 100" for \p ms each, in child processes; returns
// their pids. Each exits 0 when every request was answered.
static void load(pid_t *pids, int n, int ms) {
  for (int i = 0; i < n; ++i)
    if ((pids[i] = fork()) == 0) {
      FILE *f = client();
      char answer[256];
      struct timespec t0, t;
      clock_gettime(CLOCK_MONOTONIC, &t0);
      do {
        fprintf(f, "price 100\n");
        fflush(f);
        if (!fgets(answer, sizeof answer, f) || strncmp(answer, "total", 5))
          _exit(1);
        clock_gettime(CLOCK_MONOTONIC, &t);
      } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
      fprintf(f, "quit\n");
      _exit(0);
    }
}

static void show(char *const argv[]) {
  static char out[8192];
  int status = run(argv, out, sizeof out);
  printf("$");
  for (int i = 0; argv[i]; ++i)
    printf(" %s", argv[i]);
  printf("\n%s", out);
  CHECK(status == 0, "exit %d", status);
}


int main(void) {
  const char *app = "/data/counter/app";
  step("1. The example service, built for arm64 with -fplugin=hotpatch.so, runs");
  int out[2];
  CHECK(pipe(out) == 0, "pipe");
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    execl(app, app, "0", (char *)NULL);
    _exit(127);
  }
  close(out[1]);
  FILE *log = fdopen(out[0], "r");
  char line[256];
  CHECK(fgets(line, sizeof line, log), "the service said nothing");
  printf("%s", line);
  char *at = strstr(line, "127.0.0.1:");
  CHECK(at, "no port in: %s", line);
  port = atoi(at + 10);

  step("2. Its bug: no tax on 10000 cents");
  CHECK(!strncmp(request("price 10000"), "total 10000 ", 12), "the bug does not show");
  request("price 250");
  request("stats");

  step("3. compute_tax's patchable prologue: 4 NOPs of padding, a NOP at the entry");
  unsigned long long entry = symbol(app, "compute_tax");
  unsigned words[5];
  peek(pid, entry - 16, words, sizeof words);
  for (int i = 0; i < 5; ++i)
    printf("  %llx: %08x%s\n", entry - 16 + 4 * i, words[i],
           words[i] == 0xd503201fu ? "  nop" : "");

  step("4. Apply the patch (strict) while 4 clients keep asking for 2 s");
  pid_t clients[4];
  load(clients, 4, 2000);
  usleep(300000);
  char pidbuf[16];
  snprintf(pidbuf, sizeof pidbuf, "%d", (int)pid);
  char *apply[] = {"/bin/hp-apply", "-p", pidbuf, "/data/counter/fix.hp", NULL};
  show(apply);
  int ok = 1;
  for (int i = 0; i < 4; ++i) {
    int status;
    waitpid(clients[i], &status, 0);
    ok &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  CHECK(ok, "a request during the patch was not answered");
  printf("load: every request during the patch was answered\n");
  peek(pid, entry + 0, words, 4);
  printf("  compute_tax's entry is now %08x (b to the new code)\n", words[0]);
  CHECK(!strncmp(request("price 10000"), "total 10800 ", 12), "the tax is still wrong");
  const char *stats = request("stats");
  CHECK(atol(stats + 7) > 3, "served did not keep counting: %s", stats);
  printf("the tax is right now, and 'served' kept counting from before the patch\n");

  step("5. The patch as the process records it; revert; then entry-only, for good");
  char *list[] = {"/bin/hp-apply", "-p", pidbuf, "--list", NULL};
  show(list);
  char *revert[] = {"/bin/hp-apply", "-p", pidbuf, "--revert-all", NULL};
  show(revert);
  CHECK(!strncmp(request("price 10000"), "total 10000 ", 12), "revert: the bug is not back");
  char *entryOnly[] = {"/bin/hp-apply", "-p", pidbuf, "--policy", "entry-only",
                       "/data/counter/fix.hp", NULL};
  show(entryOnly);
  CHECK(!strncmp(request("price 10000"), "total 10800 ", 12), "entry-only: the tax is wrong");
  CHECK(kill(pid, 0) == 0, "the service died");
  printf("pid %d is alive; it never restarted\n\ndemo: done\n", (int)pid);
  kill(pid, SIGTERM);
  return 0;
}
