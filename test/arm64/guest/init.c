// test/arm64/guest/init.c - PID 1 of the arm64 test guest.
//
// Mounts /proc, runs every program in /tests (sorted by name) with a
// deadline, prints one line per test on the console, then powers off:
//
//   HP-TEST <name> PASS|FAIL <ms> [why]
//   HP-DONE <passed> <failed>
//
// scripts/arm64-testbed.sh parses these lines; everything else a test
// prints goes to the console too, prefixed by nothing, for the log.
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

static void power_off(void) {
  fflush(stdout);
  sync();
  reboot(RB_POWER_OFF);
  for (;;) pause(); // PID 1 must not exit: that panics the kernel
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  mkdir("/proc", 0755);
  mkdir("/tmp", 01777);
  mkdir("/dev", 0755);
  if (mount("proc", "/proc", "proc", 0, NULL) != 0)
    printf("HP-INIT cannot mount /proc: %s\n", strerror(errno));
  mount("tmpfs", "/tmp", "tmpfs", 0, NULL);
  mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
  // Loopback up (127.0.0.1 comes with it): the demo's service listens there.
  int sock = socket(AF_INET, SOCK_DGRAM, 0);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  if (sock < 0 || ioctl(sock, SIOCGIFFLAGS, &ifr) != 0 ||
      (ifr.ifr_flags |= IFF_UP, ioctl(sock, SIOCSIFFLAGS, &ifr)) != 0)
    printf("HP-INIT cannot bring lo up: %s\n", strerror(errno));
  if (sock >= 0)
    close(sock);
  setenv("PATH", "/bin:/tests", 1);
  setenv("TMPDIR", "/tmp", 1);

  // The deadline of each test, in seconds (TCG is slow, a hang is not).
  const char *limit_env = getenv("hp_test_timeout");
  // Only the tests whose name starts with one of these (comma-separated;
  // the host's --only): a quicker turn while working on one.
  const char *only = getenv("hp_test_only");
  int limit = limit_env ? atoi(limit_env) : 120;
  // hp_bench=1 (the host's --bench): the benchmarks in /bench instead.
  const char *dir = getenv("hp_bench") ? "/bench" : "/tests";
  struct dirent **names;
  int n = scandir(dir, &names, NULL, by_name);
  if (n < 0) {
    printf("HP-INIT no %s: %s\n", dir, strerror(errno));
    printf("HP-DONE 0 1\n");
    power_off();
  }
  // How long the kernel took to get here (the host reports it as boot time).
  double up = 0;
  FILE *f = fopen("/proc/uptime", "r");
  if (f) {
    if (fscanf(f, "%lf", &up) != 1) up = 0;
    fclose(f);
  }
  printf("HP-INIT %d entries in %s, uptime %.2f s, page %ld\n", n, dir, up,
         sysconf(_SC_PAGESIZE));
  int passed = 0, failed = 0;
  for (int i = 0; i < n; ++i) {
    const char *name = names[i]->d_name;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    if (name[0] == '.' || stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
        !(st.st_mode & S_IXUSR))
      continue;
    if (only && *only) {
      int wanted = 0;
      for (const char *p = only; *p && !wanted; p += strcspn(p, ",") + (p[strcspn(p, ",")] != 0)) {
        size_t len = strcspn(p, ",");
        wanted = len && !strncmp(name, p, len);
      }
      if (!wanted)
        continue;
    }
    printf("HP-START %s\n", name);
    long long start = now_ms();
    pid_t pid = fork();
    if (pid == 0) {
      setpgid(0, 0); // one group per test: a timeout kills what it started
      chdir("/tmp");
      execl(path, path, (char *)NULL);
      _exit(127);
    }
    int status = 0;
    const char *why = "";
    char buf[64];
    for (;;) {
      pid_t got = waitpid(-1, &status, WNOHANG);
      if (got == pid)
        break;
      if (got > 0)
        continue; // an orphan reparented to us: reaped
      if (now_ms() - start > limit * 1000LL) {
        kill(-pid, SIGKILL);
        waitpid(pid, &status, 0);
        why = "timeout";
        status = -1;
        break;
      }
      usleep(20000);
    }
    kill(-pid, SIGKILL); // whatever the test left running
    while (waitpid(-1, NULL, WNOHANG) > 0) {}
    int ok = status == 0;
    if (!ok && !*why) {
      if (WIFEXITED(status))
        snprintf(buf, sizeof buf, "exit %d", WEXITSTATUS(status));
      else if (WIFSIGNALED(status))
        snprintf(buf, sizeof buf, "signal %d", WTERMSIG(status));
      why = buf;
    }
    printf("HP-TEST %s %s %lld %s\n", name, ok ? "PASS" : "FAIL", now_ms() - start, why);
    ok ? ++passed : ++failed;
  }
  printf("HP-DONE %d %d\n", passed, failed);
  power_off();
}
