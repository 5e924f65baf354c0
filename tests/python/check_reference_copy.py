#!/usr/bin/env python3
"""The reference data in tests/data/reference must be a byte-for-byte copy of ../shared/reference.

Usage: check_reference_copy.py SOURCE_DIR        compare SOURCE_DIR/tests/data/reference with
                                                 SOURCE_DIR/../shared/reference; exit 77 (ctest's
                                                 skip) when there is no ../shared/reference
       check_reference_copy.py --self-test       show that a changed byte, a missing file and an
                                                 extra file are each reported
When it fails, re-copy with scripts/copy_reference.sh.
"""
import os
import sys
import tempfile


def files_under(root):
    out = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            out[os.path.relpath(path, root)] = path
    return out


def differences(copy, original):
    """Lines naming every file that is missing, extra or different in `copy`."""
    copied, originals = files_under(copy), files_under(original)
    out = [f"missing from the copy: {rel}" for rel in sorted(originals.keys() - copied.keys())]
    out += [f"not in {original}: {rel}" for rel in sorted(copied.keys() - originals.keys())]
    for rel in sorted(originals.keys() & copied.keys()):
        with open(copied[rel], "rb") as a, open(originals[rel], "rb") as b:
            if a.read() != b.read():
                out.append(f"differs: {rel}")
    return out


def self_test():
    with tempfile.TemporaryDirectory() as tmp:
        original, copy = os.path.join(tmp, "original"), os.path.join(tmp, "copy")
        for root in (original, copy):
            os.makedirs(os.path.join(root, "sub"))
            for rel, data in (("a.json", b'{"x": 1}'), ("sub/b.bin", bytes(range(256)))):
                with open(os.path.join(root, rel), "wb") as f:
                    f.write(data)
        assert differences(copy, original) == [], differences(copy, original)
        with open(os.path.join(copy, "sub/b.bin"), "r+b") as f:
            f.seek(100)
            f.write(b"\x00")
        assert differences(copy, original) == ["differs: sub/b.bin"], differences(copy, original)
        os.remove(os.path.join(copy, "a.json"))
        with open(os.path.join(copy, "extra.txt"), "w") as f:
            f.write("x")
        found = differences(copy, original)
        assert "missing from the copy: a.json" in found and "not in " + original + ": extra.txt" in found, found
    print("self-test: a changed byte, a missing file and an extra file are each reported")


def main():
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        return 0
    source = sys.argv[1]
    copy = os.path.join(source, "tests", "data", "reference")
    original = os.path.normpath(os.path.join(source, "..", "shared", "reference"))
    if not os.path.isdir(original):
        print(f"skipped: no {original} beside the checkout to compare the copy with")
        return 77
    found = differences(copy, original)
    for line in found:
        print(f"tests/data/reference: {line}")
    if found:
        print("the reference changed: re-copy it with scripts/copy_reference.sh")
        return 1
    print(f"tests/data/reference is identical to {original} ({len(files_under(original))} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
