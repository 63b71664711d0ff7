#include "score.h"

/* The bug: a score is meant to be five times the points. */
long score(long x) { return x * 3; }
