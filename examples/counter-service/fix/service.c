/* counter-service: a small multi-threaded billing service, the demo target.
 *
 * It listens on 127.0.0.1:PORT and answers one request per line:
 *   price CENTS   -> "total CENTS_WITH_TAX (request N)"
 *   stats         -> "served N"
 *   quit          -> closes the connection
 * Each connection gets its own thread. `served` is state that must survive a
 * live patch: it counts every request since the process started.
 *
 * This is the fixed build: compute_tax() multiplies before it divides. The
 * original (../service.c) divided first, so the 8% rate became 0 and no tax
 * was ever charged. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const long tax_rate_percent = 8;

__attribute__((noinline)) long compute_tax(long cents) {
  return cents * tax_rate_percent / 100;
}

__attribute__((noinline)) long price_with_tax(long cents) {
  return cents + compute_tax(cents);
}

__attribute__((noinline)) long count_request(void) {
  static long served; /* lives across patches */
  return __atomic_add_fetch(&served, 1, __ATOMIC_SEQ_CST);
}

static void answer(FILE *out, const char *line) {
  long cents;
  if (sscanf(line, "price %ld", &cents) == 1) {
    long n = count_request();
    fprintf(out, "total %ld (request %ld)\n", price_with_tax(cents), n);
  } else if (strncmp(line, "stats", 5) == 0) {
    fprintf(out, "served %ld\n", count_request() - 1);
  } else {
    fprintf(out, "error: unknown request\n");
  }
  fflush(out);
}

static void *serve(void *arg) {
  int fd = (int)(long)arg;
  FILE *in = fdopen(fd, "r");
  FILE *out = fdopen(dup(fd), "w");
  char line[256];
  while (in && out && fgets(line, sizeof line, in)) {
    if (strncmp(line, "quit", 4) == 0)
      break;
    answer(out, line);
  }
  if (in)
    fclose(in);
  if (out)
    fclose(out);
  return NULL;
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 0;
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET,
                             .sin_port = htons((unsigned short)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 ||
      listen(listener, 64) != 0) {
    perror("counter-service: bind/listen");
    return 1;
  }
  socklen_t len = sizeof addr;
  getsockname(listener, (struct sockaddr *)&addr, &len);
  printf("counter-service: pid %d listening on 127.0.0.1:%d\n", (int)getpid(),
         ntohs(addr.sin_port));
  fflush(stdout);
  for (;;) {
    int fd = accept(listener, NULL, NULL);
    if (fd < 0)
      continue;
    pthread_t thread;
    if (pthread_create(&thread, NULL, serve, (void *)(long)fd) == 0)
      pthread_detach(thread);
    else
      close(fd);
  }
}
