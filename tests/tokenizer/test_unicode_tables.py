#!/usr/bin/env python3
"""test_unicode_tables.py — models/tokenizer/ap_unicode_tables.h is what gen_unicode_tables.py makes from this Python's
unicodedata, and its letter/number classes agree with the regex module's \\p{L} / \\p{N} (the reference of the
byte-level test) on every code point assigned in that Unicode version."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tokhelp  # noqa: E402

import regex  # noqa: E402
import unicodedata  # noqa: E402

T = tokhelp.Tap()
header = os.path.join(tokhelp.ROOT, "models", "tokenizer", "ap_unicode_tables.h")
gen = subprocess.run([sys.executable, os.path.join(tokhelp.HERE, "gen_unicode_tables.py")], capture_output=True,
                     text=True, check=True).stdout
with open(header, encoding="utf-8") as f:
    T.check(f.read() == gen, "ap_unicode_tables.h is current (Unicode %s)" % unicodedata.unidata_version)
letter, number = regex.compile(r"\p{L}"), regex.compile(r"\p{N}")
diff = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF and
        (bool(letter.match(chr(cp))) != unicodedata.category(chr(cp)).startswith("L") or
         bool(number.match(chr(cp))) != unicodedata.category(chr(cp)).startswith("N"))]
newer = [cp for cp in diff if unicodedata.category(chr(cp)) != "Cn"]
T.check(not newer, "the tables agree with the regex module's \\p{L}/\\p{N} on every code point assigned in Unicode "
        "%s (%d differ only as newer assignments)%s" % (unicodedata.unidata_version, len(diff),
                                                        [hex(c) for c in newer[:5]]))
T.done()
