-- Turns a docs/ page into a man page (pandoc -s -t man --lua-filter=man.lua).
-- The page stays plain Markdown, readable on GitHub; its shape gives the
-- man sections:
--   # name                  -> NAME: "name \- <first sentence of the next paragraph>"
--   the first code block    -> SYNOPSIS (when it comes before the first ## heading)
--   the rest before any ##  -> DESCRIPTION
--   ## heading / ### heading -> .SH / .SS
-- and a SEE ALSO section from the metadata field see-also (pandoc -M).
-- The title, section, date, footer and header come from pandoc -M too
-- (docs/man/CMakeLists.txt lists them per page).

local function first_sentence(inlines)
  local text = pandoc.utils.stringify(inlines)
  local s = text:match("^(.-[%.:])%s") or text:match("^(.-)[%.:]?$") or text
  s = s:gsub("[%.:]$", "")
  -- a man NAME line starts lower case: "hp-diff \- makes a live patch..."
  return s:sub(1, 1):lower() .. s:sub(2)
end

function Pandoc(doc)
  local out = {}
  local blocks = doc.blocks
  local i = 1
  local name
  if blocks[i] and blocks[i].t == "Header" and blocks[i].level == 1 then
    name = pandoc.utils.stringify(blocks[i].content)
    i = i + 1
  end
  local summary = ""
  if blocks[i] and blocks[i].t == "Para" then
    summary = first_sentence(blocks[i].content)
  end
  if name then
    table.insert(out, pandoc.Header(1, "NAME"))
    table.insert(out, pandoc.Para({pandoc.Str(name), pandoc.Space(),
                                   pandoc.RawInline("man", "\\-"), pandoc.Space(),
                                   pandoc.Str(summary)}))
  end
  -- The preamble: everything before the first level-2 heading.
  local pre = {}
  while blocks[i] and not (blocks[i].t == "Header" and blocks[i].level <= 2) do
    table.insert(pre, blocks[i])
    i = i + 1
  end
  local synopsis
  for k, b in ipairs(pre) do
    if b.t == "CodeBlock" then synopsis = k; break end
  end
  if synopsis then
    table.insert(out, pandoc.Header(1, "SYNOPSIS"))
    table.insert(out, pre[synopsis])
  end
  table.insert(out, pandoc.Header(1, "DESCRIPTION"))
  for k, b in ipairs(pre) do
    if k ~= synopsis then table.insert(out, b) end
  end
  -- The body: one level up.
  while blocks[i] do
    local b = blocks[i]
    if b.t == "Header" then
      b.level = math.max(1, b.level - 1)
      if b.level == 1 then -- man's section headings are upper case (not code)
        b = pandoc.walk_block(b, {
          Str = function(s) return pandoc.Str(s.text:upper()) end})
      end
    end
    table.insert(out, b)
    i = i + 1
  end
  local see = doc.meta["see-also"]
  if see then
    table.insert(out, pandoc.Header(1, "SEE ALSO"))
    table.insert(out, pandoc.Para({pandoc.Str(pandoc.utils.stringify(see))}))
  end
  return pandoc.Pandoc(out, doc.meta)
end
