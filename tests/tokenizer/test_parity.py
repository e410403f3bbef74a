#!/usr/bin/env python3
"""test_parity.py — ap_tokenizer against sentencepiece (the oracle: the ap-tiny tokenizer.model gives the ids of its
tokenizer.json, identical to Hugging Face tokenizers on these files), id by id, on the whole WikiText-2 test and
validation files and a slice of data/calib.txt, with timing; the test file must give 406,497 ids with BOS. The
whole-text path (one heap, no cut points) is checked the same way on a variant whose merges join every pair."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tokhelp  # noqa: E402

import sentencepiece  # noqa: E402

T = tokhelp.Tap()
LIMIT = 5.0 if tokhelp.SANITIZED else 1.0          # "well under a second" (normally ~0.1 s)
LIMIT_WHOLE = 20.0 if tokhelp.SANITIZED else 3.0   # one heap over 1.3 MB (normally ~0.5 s)


def encode_time(stderr):
    m = re.search(r"in ([0-9.]+) s CPU", stderr)
    return float(m.group(1)) if m else float("inf")


def parity(driver, sp, tok_json, path, label, limit, tmp, want_count=None, check_decode=False):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    ref = [1] + sp.encode(text)
    got, err, rc = tokhelp.encode_file(driver, tok_json, path)
    if not T.check(rc == 0, "%s: encodes (%s)" % (label, err.strip())):
        return
    d = tokhelp.first_diff(got, ref)
    where = ""
    if d is not None:
        where = " — first difference at id %d: got %s, sentencepiece %s (pieces %s vs %s)" % (
            d, got[d:d + 5], ref[d:d + 5], [sp.id_to_piece(i) for i in got[d:d + 5] if i < sp.get_piece_size()],
            [sp.id_to_piece(i) for i in ref[d:d + 5]])
    T.check(d is None, "%s: %d ids, identical to sentencepiece id by id%s" % (label, len(got), where))
    if want_count is not None:
        T.check(len(got) == want_count, "%s: %d ids with BOS (reference %d)" % (label, len(got), want_count))
    t = encode_time(err)
    T.check(t < limit, "%s: encoded in %.3f s of CPU time (limit %.1f s; %s)" % (label, t, limit, err.strip()))
    if check_decode:
        out, derr = tokhelp.decode_ids(driver, tok_json, got, tmp)
        T.check(out is not None and out.decode("utf-8") == text,
                "%s: decode(encode(text)) gives the text back %s" % (label, derr.strip()))


def main():
    sp = sentencepiece.SentencePieceProcessor(model_file=tokhelp.TINY_SPM)
    with tokhelp.tempdir() as tmp:
        driver = tokhelp.build_driver(tmp)
        data = os.path.join(tokhelp.ROOT, "data")
        test = os.path.join(data, "wikitext-2-raw", "wiki.test.raw")
        valid = os.path.join(data, "wikitext-2-raw", "wiki.valid.raw")
        parity(driver, sp, tokhelp.TINY_JSON, test, "wiki.test.raw", LIMIT, tmp, want_count=406497,
               check_decode=True)
        parity(driver, sp, tokhelp.TINY_JSON, valid, "wiki.valid.raw", LIMIT, tmp, want_count=360928)
        # A slice of the calibration text (first 600,000 characters, cut at a line end).
        with open(os.path.join(data, "calib.txt"), encoding="utf-8") as f:
            calib = f.read(600000)
        calib = calib[:calib.rfind("\n") + 1]
        cpath = os.path.join(tmp, "calib_slice.txt")
        with open(cpath, "w", encoding="utf-8") as f:
            f.write(calib)
        parity(driver, sp, tokhelp.TINY_JSON, cpath, "calib.txt[:600k chars]", LIMIT, tmp, check_decode=True)

        # Whole-text path: merge results that hold every pair of adjacent characters of the normalized text
        # (their merges never apply: "\u2603" is not in the text) leave no place to cut the text, so the 1.3 MB
        # file is merged as one sequence with one heap.
        with open(tokhelp.TINY_JSON, encoding="utf-8") as f:
            tj = json.load(f)
        vocab = tj["model"]["vocab"]
        with open(test, encoding="utf-8") as f:
            norm = "\u2581" + f.read().replace(" ", "\u2581")
        pairs = sorted(set(zip(norm, norm[1:])))
        chunks, cur = [], ""
        for a, b in pairs:
            cur += a + b
            if len(cur.encode("utf-8")) > 3000:
                chunks.append(cur)
                cur = ""
        chunks.append(cur)
        vocab["\u2603"] = len(vocab)
        for c in chunks:
            assert c not in vocab and len(c) > 40
            vocab[c] = len(vocab)
            vocab["\u2603" + c] = len(vocab)
            tj["model"]["merges"].append(["\u2603", c])
        whole = os.path.join(tmp, "no_cuts.json")
        with open(whole, "w", encoding="utf-8") as f:
            json.dump(tj, f, ensure_ascii=False)
        print("# variant without cut points: %d adjacent pairs in %d merge results" % (len(pairs), len(chunks)))
        parity(driver, sp, whole, test, "wiki.test.raw as one heap", LIMIT_WHOLE, tmp, want_count=406497)
    T.done()


if __name__ == "__main__":
    main()
