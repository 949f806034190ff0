#!/usr/bin/python3
# The RFC 6962 §2.1 Merkle tree hash, written from the RFC with the
# standard library only: the oracle test_tlog.c compares Atlas's tree with.
# Leaves are b"leaf-%d"; prints one line per check:
#   root N HEX | incl M N HEX,HEX,... | cons M N HEX,...
import hashlib
import sys


def h(b):
    return hashlib.sha256(b).digest()


def split(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d):
    if not d:
        return h(b"")
    if len(d) == 1:
        return h(b"\x00" + d[0])
    k = split(len(d))
    return h(b"\x01" + mth(d[:k]) + mth(d[k:]))


def path(m, d):
    if len(d) <= 1:
        return []
    k = split(len(d))
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]


def subproof(m, d, b):
    if m == len(d):
        return [] if b else [mth(d)]
    k = split(len(d))
    if m <= k:
        return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]


N = int(sys.argv[1]) if len(sys.argv) > 1 else 40
D = [b"leaf-%d" % i for i in range(N)]
for n in range(1, N + 1):
    print("root", n, mth(D[:n]).hex())
    for m in range(n):
        print("incl", m, n, ",".join(x.hex() for x in path(m, D[:n])))
    for m in range(1, n + 1):
        print("cons", m, n, ",".join(x.hex() for x in subproof(m, D[:n], True)))
