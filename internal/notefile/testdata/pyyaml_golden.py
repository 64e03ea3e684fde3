"""Regenerates pyyaml_golden.json: random front matter rendered by the reference.

The reference NoteStore is python-frontmatter 1.1 over PyYAML; its document is
"---\n" + yaml.dump(meta, SafeDumper, default_flow_style=False,
allow_unicode=True).strip() + "\n---\n\n" + body, the whole text stripped.
TestRenderNoteMatchesPyYAML renders every case with RenderNote and compares
bytes. Usage (PyYAML 6 installed): python3 pyyaml_golden.py [seed] [count] [out]
"""
import json, random, sys

import yaml

random.seed(int(sys.argv[1]) if len(sys.argv) > 1 else 7)


def dumps(meta, body):
    y = yaml.dump(meta, Dumper=yaml.SafeDumper, default_flow_style=False, allow_unicode=True).strip()
    return ("---\n" + y + "\n---\n\n" + body + "\n").strip()


alphabet = list("abcXYZ019 :#-?,[]{}&*!|>'\"%@`.\n\t\r~=<_+") + [
    "\x85", "\u2028", "\u2029", "\ufeff", "é", "☕", "😀", "\x00", "\x07", "\x1b", "\xa0", "\x7f", "\u3000", "\x1c"]
words = ["yes", "No", "on", "OFF", "true", "null", "~", "12345", "0x1F", "0o7", "017", "1_000", "1.5", "1e5",
         "1.0e+5", ".inf", "-.Inf", ".NaN", "2025-02-15", "2025-02-15T10:30:00+00:00", "2025-2-5 1:02:03",
         "12:30:45", "190:20:30", "<<", "=", "---", "...", "- ", "? ", ": "]


def rstr():
    r = random.random()
    if r < 0.2:
        return random.choice(words) + (random.choice(["", "\n", " ", "x"]) if random.random() < 0.3 else "")
    n = random.choice([0, 1, 2, 3, 5, 10, 30, 90, 200])
    if random.random() < 0.5:
        out = []
        while len(" ".join(out)) < n:
            out.append("".join(random.choice("abcdefghij'\"é") for _ in range(random.randint(1, 12))))
        s = (" " * random.choice([1, 1, 1, 2])).join(out)
        if random.random() < 0.3:
            s = random.choice(["\t", "\n", " ", "'", '"', "#"]).join([s, s[:20]])
        return s
    return "".join(random.choice(alphabet) for _ in range(n))


def rval(d=0):
    r = random.random()
    if d > 3:
        r = r * 0.6
    if r < 0.45:
        return rstr()
    if r < 0.5:
        return random.choice([True, False, None])
    if r < 0.55:
        return random.choice([0, 1, -5, 12345678901234567890, 42])
    if r < 0.6:
        return random.choice([0.1, 1.0, -0.0, 1e16, 1e-5, 1.5e-7, 0.0001, 123456789012345.6, 2.5, 1e22, 3.14159])
    if r < 0.8:
        return {rstr() if random.random() < 0.3 else "k" + str(i): rval(d + 1) for i in range(random.choice([0, 1, 2, 3]))}
    return [rval(d + 1) for _ in range(random.choice([0, 1, 2, 3]))]


cases = []
for i in range(int(sys.argv[2]) if len(sys.argv) > 2 else 250):
    meta = {("k%d" % j if random.random() < 0.7 else rstr()): rval() for j in range(random.randint(0, 5))}
    body = rstr() if random.random() < 0.3 else ""
    cases.append({"front": meta, "body": body, "want": dumps(meta, body)})
with open(sys.argv[3] if len(sys.argv) > 3 else "pyyaml_golden.json", "w") as f:
    json.dump(cases, f, ensure_ascii=False, indent=0)
