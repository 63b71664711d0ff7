// Workload for bench/ipo-cost.sh: a driver for RE2 (Debian's re2 source).
// Parses and compiles many patterns (parser, simplifier, compiler), then runs
// them over generated log text with each of RE2's engines: the DFA (match
// without submatches), OnePass and BitState (small submatches), the NFA
// (submatches over long text), RE2::Set, GlobalReplace, case folding and
// Unicode classes. Deterministic text (an LCG); prints one checksum a phase
// so the benchmark can compare the output of every build.
#include <re2/re2.h>
#include <re2/set.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

static uint32_t seed = 12345;
static uint32_t rnd(uint32_t n) {
  seed = seed * 1103515245u + 12345u;
  return (seed >> 8) % n;
}

static const char* const kWords[] = {
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
    "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa",
    "Straße", "café", "naïve", "Ünïcode", "ERROR", "timeout", "refused", "ok"};
static const char* const kLevels[] = {"INFO", "WARN", "ERROR", "DEBUG"};

static std::string make_line(int i) {
  char head[96];
  snprintf(head, sizeof head, "2024-%02u-%02u %02u:%02u:%02u.%03u [%s] host%u.example.org pid=%u ",
           1 + rnd(12), 1 + rnd(28), rnd(24), rnd(60), rnd(60), rnd(1000),
           kLevels[rnd(4)], rnd(50), 1000 + rnd(60000));
  std::string line = head;
  int n = 4 + rnd(12);
  for (int w = 0; w < n; w++) {
    line += kWords[rnd(sizeof kWords / sizeof kWords[0])];
    if (rnd(7) == 0) {
      char num[32];
      snprintf(num, sizeof num, " user%u@mail%u.com", rnd(1000), rnd(9));
      line += num;
    }
    line += ' ';
  }
  if (i % 5 == 0) line += "path=/var/lib/app/" + std::to_string(i) + "/data.bin";
  return line;
}

int main(int argc, char** argv) {
  int lines = argc > 1 ? atoi(argv[1]) : 60000;
  std::vector<std::string> text;
  text.reserve(lines);
  std::string all;
  for (int i = 0; i < lines; i++) {
    text.push_back(make_line(i));
    all += text.back();
    all += '\n';
  }

  // 1. Parse and compile: many distinct patterns.
  {
    uint64_t sum = 0;
    for (int i = 0; i < 1200; i++) {
      std::string p = "(?i)(" + std::string(kWords[i % 24]) + "|" + kWords[(i * 7) % 24] +
                      ")[a-z]{" + std::to_string(i % 5) + "," + std::to_string(5 + i % 7) +
                      "}\\s+(\\d+|" + std::to_string(i) + ")?(?:x|y|[^\\pL\\d]+)*$";
      RE2 re(p, RE2::Quiet);
      sum += re.ok() + re.ProgramSize() + re.NumberOfCapturingGroups();
    }
    printf("compile %llu\n", (unsigned long long)sum);
  }

  // 2. Submatch extraction per line (OnePass / BitState).
  {
    RE2 re("(\\d+)-(\\d+)-(\\d+) (\\d+):(\\d+):(\\d+)\\.\\d+ \\[(\\w+)\\] (\\S+) pid=(\\d+)");
    uint64_t sum = 0;
    for (int round = 0; round < 10; round++)
      for (const std::string& l : text) {
        int y, mo, d, h, mi, s, pid;
        std::string level, host;
        if (RE2::PartialMatch(l, re, &y, &mo, &d, &h, &mi, &s, &level, &host, &pid))
          sum += y + mo + d + h + mi + s + level.size() + host.size() + pid;
      }
    printf("fields %llu\n", (unsigned long long)sum);
  }

  // 3. Scanning the whole text (DFA; NFA/BitState for the submatches).
  {
    RE2 email("([a-z]+\\d*)@(mail\\d)\\.com");
    RE2 err("(?i)error.*(?:timeout|refused)");
    RE2 uni("\\p{Lu}\\p{Ll}+\\s(?:\\p{L}+\\s){2,}");
    std::string user, domain;
    uint64_t sum = 0;
    for (int round = 0; round < 8; round++) {
      re2::StringPiece in(all);
      while (RE2::FindAndConsume(&in, email, &user, &domain)) sum += user.size() * 3 + domain[4];
      for (const std::string& l : text) sum += RE2::PartialMatch(l, err);
      for (const std::string& l : text) sum += RE2::PartialMatch(l, uni);
    }
    printf("scan %llu\n", (unsigned long long)sum);
  }

  // 4. RE2::Set: which of many patterns match each line.
  {
    RE2::Set set(RE2::DefaultOptions, RE2::UNANCHORED);
    for (int i = 0; i < 64; i++) {
      std::string p = std::string(kWords[i % 24]) + "\\s+" + kWords[(i * 5 + 3) % 24];
      set.Add(p, nullptr);
    }
    set.Compile();
    std::vector<int> hits;
    uint64_t sum = 0;
    for (int round = 0; round < 30; round++)
      for (const std::string& l : text)
        if (set.Match(l, &hits))
          for (int h : hits) sum += h + 1;
    printf("set %llu\n", (unsigned long long)sum);
  }

  // 5. Rewriting: GlobalReplace with backreferences over the whole text.
  {
    int n = 0;
    size_t size = 0;
    for (int round = 0; round < 4; round++) {
      std::string s = all;
      n += RE2::GlobalReplace(&s, "(\\d+)\\.(\\d+)\\.(\\d+)", "\\3.\\2.\\1");
      n += RE2::GlobalReplace(&s, "host(\\d+)\\.example\\.org", "h\\1");
      n += RE2::GlobalReplace(&s, "(?i)(alpha|delta|oscar) (\\w+)", "\\2 \\1");
      size += s.size();
    }
    printf("replace %d %zu\n", n, size);
  }
  return 0;
}
