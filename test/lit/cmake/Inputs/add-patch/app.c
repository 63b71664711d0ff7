#include <stdio.h>
long rate(long x);
int main(void) { printf("%ld\n", rate(2)); return 0; }
