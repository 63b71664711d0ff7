#pragma once
#include <map>
#include <string>

class Cart {
public:
  void add(const std::string &item, long cents);
  long total() const;
  size_t items() const { return lines.size(); }

private:
  std::map<std::string, long> lines;
};
