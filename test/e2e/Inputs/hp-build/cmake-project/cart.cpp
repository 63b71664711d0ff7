#include "cart.h"

void Cart::add(const std::string &item, long cents) { lines[item] += cents; }

// The bug: the total forgets the most expensive line.
long Cart::total() const {
  long sum = 0, top = 0;
  for (const auto &[item, cents] : lines) {
    sum += cents;
    if (cents > top)
      top = cents;
  }
  return sum - top;
}
