"""Every option a tool's --help lists (read from stdin) must appear in its
docs page and in the man page made from it: the three cannot drift apart.
    hp-diff --help | options-documented.py docs/hp-diff.md build/man/man1/hp-diff.1
Prints each option with where it was found; exit 1 naming what is missing."""
import re
import sys

OPTION = re.compile(r"^\s{1,6}(--?[A-Za-z][A-Za-z0-9-]*)")


def man_text(roff):
    # The text a reader sees: font changes and escapes taken out.
    roff = re.sub(r"\\f(\[[A-Z]*\]|[A-Z])", "", roff)
    roff = roff.replace("\\-", "-").replace("\\[aq]", "'")
    return roff


def mentions(text, option):
    return re.search(r"(?<![\w-])" + re.escape(option) + r"(?![\w-])", text) is not None


def main():
    docs = open(sys.argv[1], encoding="utf-8").read()
    man = man_text(open(sys.argv[2], encoding="utf-8").read())
    options = []
    for line in sys.stdin:
        m = OPTION.match(line)
        if m and m.group(1) not in options:
            options.append(m.group(1))
    if not options:
        print("error: no options in the --help text")
        return 1
    missing = 0
    for option in options:
        where = [name for name, text in (("docs", docs), ("man", man)) if mentions(text, option)]
        if len(where) < 2:
            missing += 1
            print("MISSING %s: not in %s" % (option, " or ".join(
                n for n in ("docs", "man") if n not in where)))
        else:
            print("documented %s" % option)
    print("%d options, %d missing" % (len(options), missing))
    return 1 if missing else 0


sys.exit(main())
