// The first guest test: a static arm64 program runs and says so.
#include <stdio.h>
#include <sys/utsname.h>
int main(void) {
  struct utsname u;
  if (uname(&u) != 0)
    return 1;
  printf("hello from %s %s\n", u.machine, u.release);
  return 0;
}
