-- Workload for bench/ipo-cost.sh: a few classic kernels written in Lua, so
-- the interpreter's VM loop, calls, tables, strings, GC and floating point
-- all get exercised. Deterministic: each kernel prints a checksum, and the
-- script compares the output of every build before timing anything.
local scale = tonumber(arg and arg[1]) or 1

-- Calls and integer arithmetic: naive recursion.
local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end

-- Allocation and GC: binary trees (benchmarks game).
local function bottom_up(d)
  if d == 0 then return {} end
  d = d - 1
  return { bottom_up(d), bottom_up(d) }
end
local function check(t)
  if t[1] then return 1 + check(t[1]) + check(t[2]) end
  return 1
end
local function binary_trees(maxd)
  local sum = 0
  for d = 4, maxd, 2 do
    local iters = 1 << (maxd - d + 4)
    for _ = 1, iters do sum = sum + check(bottom_up(d)) end
  end
  return sum
end

-- Floating point and table indexing: spectral norm.
local function A(i, j)
  local ij = i + j - 1
  return 1.0 / (ij * (ij - 1) * 0.5 + i)
end
local function Av(x, y, N)
  for i = 1, N do
    local a = 0
    for j = 1, N do a = a + x[j] * A(i, j) end
    y[i] = a
  end
end
local function Atv(x, y, N)
  for i = 1, N do
    local a = 0
    for j = 1, N do a = a + x[j] * A(j, i) end
    y[i] = a
  end
end
local function spectral_norm(N)
  local u, v, t = {}, {}, {}
  for i = 1, N do u[i] = 1 end
  for _ = 1, 10 do
    Av(u, t, N); Atv(t, v, N)
    Av(v, t, N); Atv(t, u, N)
  end
  local vBv, vv = 0, 0
  for i = 1, N do
    local ui, vi = u[i], v[i]
    vBv = vBv + ui * vi; vv = vv + vi * vi
  end
  return math.sqrt(vBv / vv)
end

-- Sorting with a Lua comparator, hash tables with string keys.
local function tables(n)
  local seed = 42
  local function rnd() seed = (seed * 1103515245 + 12345) % 2147483648; return seed end
  local a = {}
  for i = 1, n do a[i] = rnd() % 1000000 end
  table.sort(a, function(x, y) return x > y end)
  local h, distinct = {}, 0
  for i = 1, n do
    local k = "k" .. (a[i] % 50021)
    if not h[k] then h[k] = 0; distinct = distinct + 1 end
    h[k] = h[k] + 1
  end
  local s = 0
  for k, v in pairs(h) do s = s + #k * v end
  return a[1] + a[n] + distinct + s
end

-- Strings: formatting, concatenation, pattern matching, gsub.
local function strings(n)
  local parts = {}
  for i = 1, n do
    parts[#parts + 1] = string.format("%05d:%s=%x;", i, ("item" .. i):rep(2), i * 2654435761 % 4294967296)
  end
  local s = table.concat(parts)
  local count, total = 0, 0
  for num, name in s:gmatch("(%d+):(%a+%d+)") do
    count = count + 1; total = total + tonumber(num) + #name
  end
  local r, subs = s:gsub("item(%d)", "I%1")
  local upper = r:upper()
  return count + total + subs + #upper + (upper:find("I9", 1, true) or 0)
end

-- Objects: metatables and method calls.
local Vec = {}
Vec.__index = Vec
function Vec.new(x, y) return setmetatable({ x = x, y = y }, Vec) end
function Vec.__add(a, b) return Vec.new(a.x + b.x, a.y + b.y) end
function Vec:scale(k) return Vec.new(self.x * k, self.y * k) end
function Vec:dot(o) return self.x * o.x + self.y * o.y end
local function objects(n)
  local acc = Vec.new(0, 0)
  for i = 1, n do
    local v = Vec.new(i % 7, i % 11):scale(0.5)
    acc = acc + v
    if acc:dot(v) > 1e12 then acc = Vec.new(0, 0) end
  end
  return acc.x + acc.y
end

-- Coroutines: a generator pipeline.
local function coroutines(n)
  local gen = coroutine.wrap(function()
    for i = 1, n do coroutine.yield(i) end
    coroutine.yield(nil)
  end)
  local s = 0
  while true do
    local v = gen()
    if not v then break end
    if v % 3 == 0 then s = s + v end
  end
  return s
end

print("fib", fib(32))
print("binary_trees", binary_trees(14))
print("spectral_norm", string.format("%.9f", spectral_norm(math.floor(350 * scale))))
print("tables", tables(math.floor(300000 * scale)))
print("strings", strings(math.floor(120000 * scale)))
print("objects", string.format("%.1f", objects(math.floor(1000000 * scale))))
print("coroutines", coroutines(math.floor(600000 * scale)))
