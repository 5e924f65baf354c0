"""Fails when a function body in patchbay's C++ sources is longer than the limit (the
developers' guide: functions that read top to bottom, about 80 lines at most).
Usage: check_function_length.py SOURCE_DIR [LIMIT]. Prints every function over the limit.

A function body is a brace block opened at namespace or class scope right after a parameter
list ("...) {", "...) const {", "...) try {", "-> T {"); lambdas and blocks inside a function
count towards the function they are in. Comments and string literals are blanked first."""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1])
limit = int(sys.argv[2]) if len(sys.argv) > 2 else 80
dirs = ["src", "include", "bench", "circuits", "examples"]


def blank(text):
    """Comments and string/char literals replaced by spaces, newlines kept."""
    out, i, n = [], 0, len(text)
    spaces = lambda s: re.sub(r"[^\n]", " ", s)
    while i < n:
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
        elif text.startswith('R"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            delim = re.match(r'R"([^(\s]*)\(', text[i:]).group(1)
            j = text.find(")" + delim + '"', i) + len(delim) + 2
        elif text[i] in "\"'":
            j = i + 1
            while j < n and text[j] != text[i]:
                j += 2 if text[j] == "\\" else 1
            j += 1
        else:
            out.append(text[i])
            i += 1
            continue
        out.append(spaces(text[i:j]))
        i = j
    return "".join(out)


opens_function = re.compile(r"\)\s*(const\s*)?(noexcept\s*)?(override\s*)?(try\s*)?(->\s*[\w:<>,\s&*]+)?$")
opens_scope = re.compile(r"\b(namespace|struct|class|union|enum)\b[^;{}()]*$|extern\s*$")
too_long = []
for d in dirs:
    for path in sorted((root / d).rglob("*")):
        if path.suffix not in (".cpp", ".hpp", ".in"):
            continue
        code = blank(path.read_text(encoding="utf-8"))
        stack = []  # kinds of the open braces: "scope", "function" (with its first line) or "block"
        for m in re.finditer(r"[{}]", code):
            if m.group() == "}":
                if stack:
                    kind = stack.pop()
                    if isinstance(kind, tuple):
                        first = kind[1]
                        last = code.count("\n", 0, m.start()) + 1
                        if last - first + 1 > limit:
                            head = code[:m.start()].rsplit("\n", last - first + 1)[0].rsplit("\n", 1)[-1].strip()
                            too_long.append((last - first + 1, f"{path.relative_to(root)}:{first}"))
                continue
            before = code[max(0, m.start() - 400):m.start()]
            head = re.split(r"[;{}]", before)[-1]
            at_scope = all(k == "scope" for k in stack)
            if at_scope and opens_scope.search(head):
                stack.append("scope")
            elif at_scope and opens_function.search(head.rstrip()):
                stack.append(("function", code.count("\n", 0, m.start()) + 1))
            else:
                stack.append("scope" if at_scope and re.search(r"=\s*$", head) is None and not head.strip() else "block")

for lines, where in sorted(too_long, reverse=True):
    print(f"{where}: a function of {lines} lines (limit {limit}): split it into named steps")
sys.exit(1 if too_long else 0)
