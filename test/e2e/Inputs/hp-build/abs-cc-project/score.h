long score(long x);
