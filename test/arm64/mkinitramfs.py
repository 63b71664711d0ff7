#!/usr/bin/env python3
"""Writes a newc cpio archive (what the kernel unpacks as an initramfs) from
a directory tree, plus /dev/console, with no cpio binary and no root: the
owner is root and the device node is described, never created on the host.

    mkinitramfs.py ROOT OUT.cpio
"""
import os
import stat
import sys


def entry(out, ino, name, mode, data=b"", rdev=(0, 0), nlink=1):
    name_b = name.encode() + b"\0"
    hdr = "070701" + "".join("%08X" % v for v in (
        ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1],
        len(name_b), 0))
    out.write(hdr.encode() + name_b)
    out.write(b"\0" * (-(110 + len(name_b)) % 4))
    out.write(data)
    out.write(b"\0" * (-len(data) % 4))


def main(root, path):
    ino = 1
    with open(path, "wb") as out:
        entry(out, ino, "dev", stat.S_IFDIR | 0o755, nlink=2)
        ino += 1
        entry(out, ino, "dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
        for dirpath, dirs, files in os.walk(root):
            dirs.sort()
            rel = os.path.relpath(dirpath, root)
            for name in sorted(dirs) + sorted(files):
                full = os.path.join(dirpath, name)
                arc = os.path.normpath(os.path.join(rel, name))
                if arc == "dev":
                    continue
                st = os.lstat(full)
                ino += 1
                if stat.S_ISDIR(st.st_mode):
                    entry(out, ino, arc, stat.S_IFDIR | 0o755, nlink=2)
                elif stat.S_ISLNK(st.st_mode):
                    entry(out, ino, arc, stat.S_IFLNK | 0o777, os.readlink(full).encode())
                else:
                    with open(full, "rb") as f:
                        data = f.read()
                    entry(out, ino, arc, stat.S_IFREG | (st.st_mode & 0o777), data)
        entry(out, 0, "TRAILER!!!", 0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
