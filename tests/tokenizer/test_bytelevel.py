#!/usr/bin/env python3
"""test_bytelevel.py — byte-level BPE (GPT-2, LLaMA-3, Qwen2 styles) of ap_tokenizer against a plain Python
reference: a tiny byte-level BPE is trained here on text from data/calib.txt, written as three tokenizer.json
files (ByteLevel with the GPT-2 regex; Split with the LLaMA-3 regex + ByteLevel + ignore_merges + BOS template;
NFC + Split with the Qwen2 regex + ByteLevel), and every text is encoded by both, id by id: unicode, digits,
contractions, whitespace runs, special tokens, random mixtures, NFC-rich strings (Qwen2) and wiki.test.raw."""
import json
import os
import random
import sys
import unicodedata
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tokhelp  # noqa: E402

import regex  # noqa: E402

T = tokhelp.Tap()

PATTERNS = {
    "gpt2": r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
    "llama3": r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"""
              r"""\s*[\r\n]+|\s+(?!\S)|\s+""",
    "qwen2": r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"""
             r"""\s*[\r\n]+|\s+(?!\S)|\s+""",
}
COMPILED = {k: regex.compile(v) for k, v in PATTERNS.items()}
EOT = "<|endoftext|>"
BOT = "<|begin_of_text|>"


def bytes_to_unicode():
    keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    out, n = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + n)
            n += 1
    return out


B2U = bytes_to_unicode()


def to_symbols(piece):
    return "".join(B2U[b] for b in piece.encode("utf-8"))


def train(corpus, n_merges):
    """Plain BPE training on GPT-2 pieces: repeatedly merge the most frequent pair (ties: the larger pair)."""
    words = Counter(tuple(to_symbols(p)) for p in COMPILED["gpt2"].findall(corpus))
    merges = []
    for _ in range(n_merges):
        pairs = Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        merges.append((a, b))
        new = Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new[tuple(out)] += c
        words = new
    vocab = {B2U[b]: i for i, b in enumerate(range(256))}
    for a, b in merges:
        if a + b not in vocab:
            vocab[a + b] = len(vocab)
    return vocab, merges


def tokenizer_json(style, vocab, merges):
    v = dict(vocab)
    added = [{"id": len(v), "content": EOT, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True}]
    bl = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": style == "gpt2"}
    post = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True}
    normalizer = None
    if style == "gpt2":
        pre = bl
        merge_list = ["%s %s" % m for m in merges]
    else:
        pre = {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": PATTERNS[style]}, "behavior": "Isolated", "invert": False}, bl]}
        merge_list = [list(m) for m in merges]
    if style == "llama3":
        added.append({"id": len(v) + 1, "content": BOT, "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": True})
        post = {"type": "Sequence", "processors": [post, {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": BOT, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [], "special_tokens": {BOT: {"id": BOT, "ids": [len(v) + 1], "tokens": [BOT]}}}]}
    if style == "qwen2":
        normalizer = {"type": "NFC"}
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
            "normalizer": normalizer, "pre_tokenizer": pre, "post_processor": post,
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                      "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
                      "ignore_merges": style == "llama3", "vocab": v, "merges": merge_list}}


class Reference:
    """Hugging Face's byte-level BPE semantics, written plainly: specials split out of the raw text, NFC for
    Qwen2, the split regex, bytes -> characters, ignore_merges, then merge the leftmost lowest-rank pair until
    none is left."""

    def __init__(self, style, vocab, merges):
        self.style, self.vocab = style, vocab
        self.ranks = {}
        for r, m in enumerate(merges):
            self.ranks[m] = r
        self.eot = len(vocab)
        self.bot = len(vocab) + 1 if style == "llama3" else None
        self.cache = {}

    def bpe(self, syms):
        syms = list(syms)
        while True:
            best = None
            for i in range(len(syms) - 1):
                r = self.ranks.get((syms[i], syms[i + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                return syms
            i = best[1]
            syms[i:i + 2] = [syms[i] + syms[i + 1]]

    def piece(self, p):
        if p not in self.cache:
            s = to_symbols(p)
            if self.style == "llama3" and s in self.vocab:
                self.cache[p] = [self.vocab[s]]
            else:
                self.cache[p] = [self.vocab[x] for x in self.bpe(s)]
        return self.cache[p]

    def encode(self, text):
        ids = [self.bot] if self.bot is not None else []
        parts = text.split(EOT)
        for k, seg in enumerate(parts):
            if k:
                ids.append(self.eot)
            if self.style == "qwen2":
                seg = unicodedata.normalize("NFC", seg)
            pieces = COMPILED[self.style].findall(seg)
            assert "".join(pieces) == seg
            for p in pieces:
                ids += self.piece(p)
        return ids


TEXTS = [
    "Hello, World! It's 2024... we'll see: don't DON'T I'M they're you've she'd O'Neil's",
    "na\u00efve caf\u00e9 r\u00e9sum\u00e9 \u00dcber Stra\u00dfe \u01c4 \u01c5 \u01c6",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3002\u4e2d\u6587\uff0c\ud55c\uad6d\uc5b4 \u0420\u0443\u0441\u0441\u043a\u0438\u0439",
    "emoji \U0001F600\U0001F44D\U0001F3FD and \u2764\ufe0f \U0001F468\u200d\U0001F469\u200d\U0001F467",
    "digits 1234567 3.14159 \u0661\u0662\u0663\u0664 \u00bd \u2167 x1y22z333 1,000,000 2024-01-01",
    "tabs\tand\r\nCRLF\n\n\n  spaces   end   ",
    "a\u00a0b\u2003c\u3000d\u0085e\u2028f\u202fg\u205fh",
    "  leading", "trailing  ", " ", "\n", "'", "''s", "' s", "'S", "'\u017f x'\u017f", "\u017f'RE'Ve'LL'D'M'T",
    "$100!!! ???  --- ... ___ @@@ ### (parens) [brackets] {braces}",
    "foo\n\nbar\r\n\r\nbaz \n qux \n\n", "   \n   x", "x \t\n y", "\r\r\n\n \t",
    EOT + "start and end" + EOT, "a" + EOT + EOT + " b",
]
NOT_NFC_STABLE = ["e\u0301 combining acute", "\uf900 compatibility ideograph", "\u1100\u1161\u11a8 jamo",
                  "\u212b\u2126 singletons", "a\u0328\u0301\u0323 e\u0323\u0302 reordered marks", "\u0344\u0f73",
                  "\uac00\u11a8 LV+T", "\u1e0b\u0323 \u0071\u0307\u0323", "\u0301 leading mark"]


def nfc_fuzz(seed, count):
    """Strings rich in what NFC changes: combining marks, decomposable letters, Hangul jamo and syllables."""
    rnd = random.Random(seed)
    pool = [chr(cp) for cp in range(0xA0, 0x2FA20) if not 0xD800 <= cp <= 0xDFFF and
            unicodedata.category(chr(cp)) != "Cn" and (unicodedata.combining(chr(cp)) or
                                                      unicodedata.decomposition(chr(cp)) or
                                                      0x1100 <= cp <= 0x11FF)][::7]
    base = ["a", "e", "A", " ", "o", "\u0391", "\u1100", "\u1161", "\u11a8", "\uac00", "x", "\n", "1"]
    return ["".join(rnd.choice(pool) if rnd.random() < 0.6 else rnd.choice(base) for _ in range(rnd.randint(1, 40)))
            for _ in range(count)]


def fuzz_text(seed, n, with_unsafe):
    rnd = random.Random(seed)
    alphabet = ["a", "Z", "the", "\u00e9", "\u00df", "\u65e5", "\U0001F600", "1", "42", "\u0663", "\u00bd", " ",
                "  ", "\t", "\n", "\r", "\r\n", "'", "s", "t", "LL", "re", "!", ".", "-", "_", "\u00a0", "\u2003",
                "\u0085", "\u017f", "D", EOT]
    if with_unsafe:
        alphabet += ["\u0301", "\uf900"]
    return "".join(rnd.choice(alphabet) for _ in range(n))


def check_texts(driver, style, path, ref, texts, tmp, label):
    bad = []
    for i, text in enumerate(texts):
        got, err, rc = tokhelp.encode_text(driver, path, text, tmp)
        want = ref.encode(text)
        if rc != 0 or got != want:
            d = tokhelp.first_diff(got or [], want)
            bad.append("#%d %r: %s" % (i, text[:40], err.strip() if rc else "first difference at %s: got %s want %s"
                                       % (d, (got or [])[d:d + 4], want[d:d + 4])))
    T.check(not bad, "%s: %s (%d texts) identical to the Python reference%s" % (
        style, label, len(texts), "; " + "; ".join(bad[:3]) if bad else ""))


def main():
    data = os.path.join(tokhelp.ROOT, "data")
    with open(os.path.join(data, "calib.txt"), encoding="utf-8") as f:
        corpus = f.read(30000)
    corpus += " ".join(TEXTS[:5]) * 3 + " (1234567) (2024) (123)" * 30   # digit merges tell the patterns apart
    vocab, merges = train(corpus, 300)
    T.check(len(merges) == 300, "trained a byte-level BPE: %d merges, %d tokens" % (len(merges), len(vocab)))
    with open(os.path.join(data, "wikitext-2-raw", "wiki.test.raw"), encoding="utf-8") as f:
        wiki = f.read()   # the whole file: it holds a few combining marks, so Qwen2's NFC really runs
    # The styles must differ on these texts, or the comparison would not tell the patterns apart.
    refs = {s: Reference(s, vocab, merges) for s in PATTERNS}
    enc = {s: [refs[s].encode(t)[(1 if s == "llama3" else 0):] for t in TEXTS] for s in PATTERNS}
    T.check(enc["gpt2"] != enc["llama3"] and enc["llama3"] != enc["qwen2"] and enc["gpt2"] != enc["qwen2"],
            "the three split patterns give different ids on the hand-written texts")
    with tokhelp.tempdir() as tmp:
        driver = tokhelp.build_driver(tmp)
        for style in ("gpt2", "llama3", "qwen2"):
            path = os.path.join(tmp, "%s.json" % style)
            with open(path, "w", encoding="utf-8") as f:
                json.dump(tokenizer_json(style, vocab, merges), f, ensure_ascii=False)
            ref = Reference(style, vocab, merges)
            check_texts(driver, style, path, ref, TEXTS, tmp, "hand-written texts")
            fuzz = [fuzz_text(1000 * len(style) + k, 30 + 7 * k, True) for k in range(12)]
            check_texts(driver, style, path, ref, fuzz, tmp, "random mixtures")
            check_texts(driver, style, path, ref, NOT_NFC_STABLE, tmp, "combining characters")
            if style == "qwen2":
                texts = nfc_fuzz(7, 40)
                check_texts(driver, style, path, ref, texts, tmp, "NFC-rich random strings")
                bad = []
                for t in texts:
                    got, err, rc = tokhelp.encode_text(driver, path, t, tmp)
                    out, derr = tokhelp.decode_ids(driver, path, got or [], tmp)
                    if rc or out is None or out.decode("utf-8") != unicodedata.normalize("NFC", t):
                        bad.append(ascii(t[:20]))
                T.check(not bad, "qwen2: decode(encode(text)) == NFC(text) as Python's unicodedata computes it "
                        "(%d strings)%s" % (len(texts), "; " + ", ".join(bad[:3]) if bad else ""))
            got, err, rc = tokhelp.encode_text(driver, path, wiki, tmp)
            want = ref.encode(wiki)
            d = tokhelp.first_diff(got or [], want)
            T.check(rc == 0 and d is None, "%s: wiki.test.raw: %d ids identical (%s)%s" % (
                style, len(want), err.strip(), "" if d is None else " — first difference at %s" % d))
            if rc == 0:
                out, derr = tokhelp.decode_ids(driver, path, got, tmp)
                T.check(out is not None and out.decode("utf-8") == unicodedata.normalize("NFC", wiki),
                        "%s: decode(encode(text)) gives the text back %s" % (style, derr.strip()))
            text = "".join(TEXTS)
            got, err, rc = tokhelp.encode_text(driver, path, text, tmp)
            if rc == 0:
                out, derr = tokhelp.decode_ids(driver, path, got, tmp, skip_special=False)
            want_text = (BOT if style == "llama3" else "") + text
            T.check(rc == 0 and out is not None and out.decode("utf-8") == want_text,
                    "%s: decode keeps specials and restores unicode exactly" % style)
    T.done()


if __name__ == "__main__":
    main()
