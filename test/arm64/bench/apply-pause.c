// The pause benchmark (bench/apply.py's matrix) in the arm64 guest: for T
// threads x F patched functions, a target whose T threads call the F
// functions then wait 200 us, in a loop (bench/apply.py's own target, built
// on the host by test/arm64/scenarios/targets.py into /data/bench-F). Each
// round, alternating: the ptrace floor (hp-bench-stop-floor: seize, then
// four stops and resumes of the same threads and nothing else; the first
// stop, cold, kept apart), a strict apply (its pause: first thread stopped
// to last resumed) and an entry-only one (threads stopped: must be 0),
// each reverted. Prints medians and ratios: under TCG absolute times mean
// nothing, the ratio against the floor measured in the same guest does.
#include "../guest/repl.h"

static int cmp(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return x < y ? -1 : x > y;
}
static long long median(long long *v, int n) {
  qsort(v, n, sizeof *v, cmp);
  return v[n / 2];
}

static pid_t start(int fns, int threads, FILE **in) {
  int to[2], from[2];
  CHECK(pipe(to) == 0 && pipe(from) == 0, "pipe");
  char path[64], arg[16];
  snprintf(path, sizeof path, "/data/bench-%d/app", fns);
  snprintf(arg, sizeof arg, "%d", threads);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(to[0], 0);
    dup2(from[1], 1);
    execl(path, path, arg, (char *)NULL);
    _exit(127);
  }
  close(to[0]);
  close(from[1]);
  *in = fdopen(to[1], "w");
  char line[64];
  FILE *out = fdopen(from[0], "r");
  CHECK(fgets(line, sizeof line, out) && !strncmp(line, "ready", 5), "%s did not start", path);
  return pid;
}

#define ROUNDS 15

int main(void) {
  static const int cells[][2] = {{1, 1}, {8, 10}, {8, 100}, {32, 10}};
  printf("hp-apply pause in the arm64 guest, %d rounds a cell; floor = ptrace stop+resume "
         "of the same threads (warm), first = the first stop of a seize\n", ROUNDS);
  printf("%7s %5s | %8s %8s %8s | %12s %12s | %18s | %s\n", "threads", "fns", "strict",
         "floor", "first", "strict/floor", "strict/first", "stopping/checking",
         "entry-only stopped");
  for (size_t c = 0; c < sizeof cells / sizeof *cells; ++c) {
    int threads = cells[c][0], fns = cells[c][1];
    FILE *in;
    pid_t pid = start(fns, threads, &in);
    char pidbuf[16], patch[64], out[8192];
    snprintf(pidbuf, sizeof pidbuf, "%d", (int)pid);
    snprintf(patch, sizeof patch, "/data/bench-%d/fix.hp", fns);
    long long strict[ROUNDS], floor[3 * ROUNDS], first[ROUNDS], stopping[ROUNDS],
        checking[ROUNDS];
    long long entryStopped = 0;
    for (int r = 0; r < ROUNDS; ++r) {
      char *fl[] = {"/bin/hp-bench-stop-floor", pidbuf, "4", NULL};
      CHECK(run(fl, out, sizeof out) == 0, "stop-floor: %s", out);
      long long v[4];
      CHECK(sscanf(out, "%lld %lld %lld %lld", &v[0], &v[1], &v[2], &v[3]) == 4,
            "stop-floor printed: %s", out);
      first[r] = v[0];
      for (int i = 0; i < 3; ++i)
        floor[3 * r + i] = v[i + 1];
      char *st[] = {"/bin/hp-apply", "-p", pidbuf, "--json", "--policy", "strict",
                    "--retries", "200", patch, NULL};
      CHECK(run(st, out, sizeof out) == 0, "strict apply: %s", out);
      strict[r] = num(out, "pause_ns");
      stopping[r] = num(out, "pause_stop_ns");
      checking[r] = num(out, "pause_unwind_ns");
      char *rv[] = {"/bin/hp-apply", "-p", pidbuf, "--revert-all", NULL};
      CHECK(run(rv, out, sizeof out) == 0, "revert: %s", out);
      char *eo[] = {"/bin/hp-apply", "-p", pidbuf, "--json", "--policy", "entry-only", patch,
                    NULL};
      CHECK(run(eo, out, sizeof out) == 0, "entry-only apply: %s", out);
      long long stopped = num(out, "threads_stopped");
      if (stopped > entryStopped)
        entryStopped = stopped;
      CHECK(run(rv, out, sizeof out) == 0, "revert: %s", out);
    }
    long long s = median(strict, ROUNDS), f = median(floor, 3 * ROUNDS),
              fi = median(first, ROUNDS);
    long long sp = median(stopping, ROUNDS), ch = median(checking, ROUNDS);
    printf("%7d %5d | %6.0fus %6.0fus %6.0fus | %12.2f %12.2f | %6.0fus /%6.0fus | %lld\n",
           threads, fns, s / 1e3, f / 1e3, fi / 1e3, (double)s / f, (double)s / fi, sp / 1e3,
           ch / 1e3, entryStopped);
    fflush(stdout);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fclose(in);
  }
  return 0;
}
