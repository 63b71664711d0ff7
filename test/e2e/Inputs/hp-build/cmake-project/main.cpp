// A shop under load: "start" sets workers adding to their own carts and
// reading totals without a pause; "add ITEM CENTS" adds to the shared cart
// (state the patch must keep); "total" answers its total; "items" its lines.
#include "cart.h"

#include <atomic>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

static Cart shared;
static std::mutex sharedLock;
static std::atomic<long> rounds;

static void worker(long seed) {
  for (;;) {
    Cart mine;
    mine.add("a", seed);
    mine.add("b", 2 * seed);
    volatile long t = mine.total();
    (void)t;
    ++rounds;
  }
}

int main() {
  std::cout << "ready" << std::endl;
  std::string line;
  std::vector<std::thread> workers;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    std::lock_guard<std::mutex> hold(sharedLock);
    if (cmd == "start") {
      for (long i = 1; i <= 4; ++i)
        workers.emplace_back(worker, i);
      std::cout << "started" << std::endl;
    } else if (cmd == "add") {
      std::string item;
      long cents = 0;
      in >> item >> cents;
      shared.add(item, cents);
      std::cout << "ok" << std::endl;
    } else if (cmd == "total") {
      std::cout << shared.total() << std::endl;
    } else if (cmd == "items") {
      std::cout << shared.items() << std::endl;
    } else if (cmd == "rounds") {
      std::cout << rounds.load() << std::endl;
    } else {
      std::cout << "?" << std::endl;
    }
  }
  for (auto &w : workers)
    w.detach();
  return 0;
}
