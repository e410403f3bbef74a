#!/usr/bin/env python3
"""make_malformed.py — writes a set of malformed tokenizer.json files (mutations of models/ap-tiny/tokenizer.json)
into OUTDIR, with OUTDIR/manifest.json naming, for each file, the error kind and a fragment of the message that
loading it must give (the message also names the file). Usage: make_malformed.py OUTDIR"""
import copy
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("AP_ROOT") or os.path.dirname(os.path.dirname(HERE))
BASE = os.path.join(ROOT, "models", "ap-tiny", "tokenizer.json")
MAX_FILE_BYTES = 100 << 20   # AP_TOKENIZER_MAX_FILE_BYTES


def dumps(obj):
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def mutations(base):
    """(name, kind, needle, bytes or a function of the base dict)"""
    def m(fn):
        def apply():
            t = copy.deepcopy(base)
            fn(t)
            return dumps(t)
        return apply

    model = lambda t: t["model"]
    vocab = lambda t: t["model"]["vocab"]
    text = dumps(base)
    deep = b'{"model": {"vocab": {"a": 0}}, "x": ' + b"[" * 10000 + b"]" * 10000 + b"}"
    dup_key = text.replace(b'"vocab": {', b'"vocab": {"\xe2\x96\x81the": 5, ', 1)
    return [
        ("dup_id", "format", "model.vocab", m(lambda t: vocab(t).__setitem__("\u2581the", vocab(t)["\u2581a"]))),
        ("id_out_of_range", "format", "out of range", m(lambda t: vocab(t).__setitem__("\u2581the", 999999))),
        ("id_negative", "format", "model.vocab", m(lambda t: vocab(t).__setitem__("\u2581the", -5))),
        ("id_fraction", "format", "model.vocab", m(lambda t: vocab(t).__setitem__("\u2581the", 263.5))),
        ("id_string", "format", "model.vocab", m(lambda t: vocab(t).__setitem__("\u2581the", "263"))),
        ("vocab_not_object", "format", "model.vocab", m(lambda t: model(t).__setitem__("vocab", []))),
        ("vocab_missing", "format", "model.vocab", m(lambda t: model(t).pop("vocab"))),
        ("dup_vocab_key", "format", "duplicate key", dup_key),
        ("merge_missing_token", "format", "model.merges[13388]",
         m(lambda t: model(t)["merges"].append(["\u2581zzqx", "a"]))),
        ("merge_missing_result", "format", "merged token",
         m(lambda t: model(t)["merges"].append(["\u2581the", "\u2581the"]))),
        ("merge_no_space", "format", "model.merges[0]", m(lambda t: model(t)["merges"].__setitem__(0, "\u2581t"))),
        ("merge_three_parts", "format", "model.merges[1]",
         m(lambda t: model(t)["merges"].__setitem__(1, "h e x"))),
        ("merge_pair_of_three", "format", "model.merges[2]",
         m(lambda t: model(t)["merges"].__setitem__(2, ["\u2581", "a", "b"]))),
        ("merges_not_array", "format", "model.merges", m(lambda t: model(t).__setitem__("merges", {}))),
        ("huge_token", "format", "bytes long", m(lambda t: vocab(t).__setitem__("x" * 100000, len(vocab(t))))),
        ("huge_added_token", "format", "added_tokens[3].content", m(lambda t: t["added_tokens"].append(
            {"id": len(vocab(t)), "content": "<" + "y" * 1000 + ">", "special": True}))),
        ("deep_nesting", "format", "nested deeper", deep),
        ("truncated", "format", "not valid JSON", text[:len(text) // 2]),
        ("empty", "format", "not valid JSON", b""),
        ("trailing_garbage", "format", "unexpected data", text + b" xyz"),
        ("top_level_array", "format", "not a JSON object", b"[" + text + b"]"),
        ("invalid_utf8", "format", "invalid UTF-8", text.replace(b"\xe2\x96\x81the", b"\xff\xfethe", 1)),
        ("nul_escape", "format", "u0000", text.replace(b'"<unk>": 0', b'"<u\\u0000nk>": 0', 1)),
        ("model_wordpiece", "unsupported", "model.type", m(lambda t: model(t).__setitem__("type", "WordPiece"))),
        ("model_dropout", "unsupported", "model.dropout", m(lambda t: model(t).__setitem__("dropout", 0.1))),
        ("unk_missing", "format", "model.unk_token", m(lambda t: model(t).__setitem__("unk_token", "<oov>"))),
        ("byte_fallback_not_bool", "format", "model.byte_fallback",
         m(lambda t: model(t).__setitem__("byte_fallback", "yes"))),
        ("added_id_conflict", "format", "added_tokens[1]", m(lambda t: t["added_tokens"][1].__setitem__("id", 5))),
        ("added_twice", "format", "added twice", m(lambda t: t["added_tokens"].append(dict(t["added_tokens"][2])))),
        ("added_id_out_of_range", "format", "added_tokens[3]", m(lambda t: t["added_tokens"].append(
            {"id": 123456, "content": "<pad>", "special": True}))),
        ("post_id_out_of_range", "format", "post_processor",
         m(lambda t: t["post_processor"]["special_tokens"]["<s>"].__setitem__("ids", [99999]))),
        ("post_unknown_special", "format", "post_processor",
         m(lambda t: t["post_processor"]["single"][0]["SpecialToken"].__setitem__("id", "<bos>"))),
        ("post_unsupported", "unsupported", "post_processor",
         m(lambda t: t.__setitem__("post_processor", {"type": "Magic"}))),
        ("normalizer_unsupported", "unsupported", "normalizer",
         m(lambda t: t["normalizer"]["normalizers"].append({"type": "NFKC"}))),
        ("replace_regex", "unsupported", "normalizer.pattern",
         m(lambda t: t["normalizer"]["normalizers"][1].__setitem__("pattern", {"Regex": " +"}))),
        ("split_regex_unknown", "unsupported", "pre_tokenizer", m(lambda t: t.__setitem__("pre_tokenizer", {
            "type": "Split", "pattern": {"Regex": "\\w+|\\s+"}, "behavior": "Isolated", "invert": False}))),
        ("metaspace_bad_scheme", "format", "prepend_scheme", m(lambda t: t.__setitem__("pre_tokenizer", {
            "type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "sometimes", "split": False}))),
        ("metaspace_long_replacement", "format", "replacement", m(lambda t: t.__setitem__("pre_tokenizer", {
            "type": "Metaspace", "replacement": "ab", "prepend_scheme": "first", "split": False}))),
    ]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_malformed.py OUTDIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    with open(BASE, encoding="utf-8") as f:
        base = json.load(f)
    manifest = {}
    for name, kind, needle, content in mutations(base):
        data = content() if callable(content) else content
        with open(os.path.join(out, name + ".json"), "wb") as f:
            f.write(data)
        manifest[name + ".json"] = {"kind": kind, "needle": needle}
    # Just over the size limit, sparse: refused before anything is read.
    with open(os.path.join(out, "too_big.json"), "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)
    manifest["too_big.json"] = {"kind": "format", "needle": "limit"}
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
