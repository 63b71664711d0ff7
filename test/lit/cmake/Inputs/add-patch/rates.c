/* The bug: the rate is 5. */
long rate(long x) { return x * 3; }
