"""Writes a damaged copy of a 64-bit little-endian ELF file, for testing
that readers refuse it: corrupt-elf.py IN OUT MODE, where MODE is
  func-value    every STT_FUNC symbol's value moved far outside its section
  rela-offset   every relocation of .rela.text moved outside any section"""
import struct
import sys

src, dst, mode = sys.argv[1:4]
b = bytearray(open(src, "rb").read())
shoff, = struct.unpack_from("<Q", b, 0x28)
shentsize, shnum, shstrndx = struct.unpack_from("<HHH", b, 0x3A)


def header(i):
    return shoff + i * shentsize


def field(i, at):
    return struct.unpack_from("<Q", b, header(i) + at)[0]


names = field(shstrndx, 0x18)


def name(i):
    n = struct.unpack_from("<I", b, header(i))[0]
    return b[names + n:b.index(0, names + n)].decode()


index = {name(i): i for i in range(shnum)}
if mode == "func-value":
    i = index[".symtab"]
    for at in range(field(i, 0x18), field(i, 0x18) + field(i, 0x20), 24):
        if b[at + 4] & 0xF == 2:  # STT_FUNC
            struct.pack_into("<Q", b, at + 8, 0xFFFFFFFFFFFFF000)
elif mode == "rela-offset":
    i = index[".rela.text"]
    for at in range(field(i, 0x18), field(i, 0x18) + field(i, 0x20), 24):
        struct.pack_into("<Q", b, at, 0xFFFFFFFFFFFF0000)
else:
    sys.exit("unknown mode " + mode)
open(dst, "wb").write(b)
