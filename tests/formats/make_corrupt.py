#!/usr/bin/python3
"""make_corrupt.py — writes the malformed-file suite: corrupt safetensors files, checkpoint folders with bad
index files, and corrupt config.json files, plus manifest.tsv saying what each must fail with.

usage: make_corrupt.py OUTDIR [--tiny MODEL_DIR]

manifest.tsv columns: kind (st | ck | cfg), path relative to OUTDIR, expected error kind (format | unsupported |
io; ok for the control cases), a fragment the error message must contain (the field or the problem; '-' for
the control cases), a description.
  st:  a safetensors file           (C: ap_safetensors_open;  CLI: ap.load_tensors(path))
  ck:  a checkpoint folder          (C: ap_checkpoint_open;   its index also through ap_checkpoint_check_index);
       config.json and the tokenizer files are symlinks to the --tiny model (the weights do not match it)
  cfg: a model folder whose config.json is corrupt (C: ap_config_load on FOLDER/config.json); the other files
       are symlinks to the valid model given by --tiny, so a CLI that loads the folder meets only the config.
"""
import json
import os
import struct
import sys

MB100 = 100 * 1000 * 1000


def st_bytes(header, data=b"", hlen=None, raw_header=None):
    """A safetensors file from a header (dict, or raw bytes) and data; hlen overrides the length field."""
    h = raw_header if raw_header is not None else json.dumps(header, separators=(",", ":")).encode()
    n = len(h) if hlen is None else hlen
    return struct.pack("<Q", n) + h + data


def t(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def st_cases():
    """(name, bytes, kind, fragment, description)"""
    ok = {"a": t("F32", [2, 2], 0, 16), "b": t("BF16", [4], 16, 24)}
    data24 = bytes(24)
    deep = b'{"a":' + b"[" * 100000 + b"]" * 100000 + b"}"
    return [
        ("valid_control", st_bytes(ok, data24), "ok", "", "a valid file (control case)"),
        ("empty", b"", "format", "shorter than the 8-byte", "empty file"),
        ("seven_bytes", b"\x10\0\0\0\0\0\0", "format", "shorter than the 8-byte", "7 bytes"),
        ("hlen_past_end", st_bytes(None, raw_header=b"{}", hlen=1000), "format", "runs past the end",
         "header length past the end of the file"),
        ("hlen_u64_max", st_bytes(None, raw_header=b"{}", hlen=2**64 - 1), "format", "exceeds the limit",
         "header length 2^64-1"),
        ("hlen_over_100mb", st_bytes(None, raw_header=b"{}", hlen=MB100 + 1), "format", "exceeds the limit",
         "header length 100 MB + 1 (refused before allocating)"),
        ("hlen_zero", st_bytes(None, raw_header=b"", hlen=0), "format", "not a JSON object", "header length 0"),
        ("invalid_utf8", st_bytes(None, raw_header=b'{"a\xff":' + json.dumps(t("F32", [], 0, 4)).encode() + b"}",
                                  ) + bytes(4), "format", "invalid UTF-8", "invalid UTF-8 in a tensor name"),
        ("overlong_utf8", st_bytes(None, raw_header=b'{"\xc0\xaf":' + json.dumps(t("F32", [], 0, 4)).encode() +
                                   b"}") + bytes(4), "format", "invalid UTF-8", "overlong UTF-8 encoding of '/'"),
        ("surrogate_utf8", st_bytes(None, raw_header=b'{"\xed\xa0\x80":' + json.dumps(t("F32", [], 0, 4)).encode()
                                    + b"}") + bytes(4), "format", "invalid UTF-8", "UTF-8-encoded surrogate"),
        ("nul_in_header", st_bytes(None, raw_header=b'{"a":\0}'), "format", "NUL", "NUL byte in the header"),
        ("escaped_nul_name", st_bytes(None, raw_header=b'{"a\\u0000b":' + json.dumps(t("F32", [], 0, 4)).encode()
                                      + b"}") + bytes(4), "format", "u0000", "\\u0000 inside a tensor name"),
        ("not_object", st_bytes(None, raw_header=b"[1,2,3] "), "format", "not a JSON object",
         "header is an array"),
        ("not_json", st_bytes(None, raw_header=b'{"a": {"dtype": "F32",'), "format", "not valid JSON",
         "header is cut-off JSON"),
        ("garbage_after_json", st_bytes(None, raw_header=b'{}xyz'), "format", "after the JSON",
         "garbage after the header object"),
        ("deep_nesting", st_bytes(None, raw_header=deep), "format", "nested deeper", "100000-deep nesting"),
        ("entry_not_object", st_bytes({"a": [1, 2]}), "format", "entry must be an object", "tensor entry is a list"),
        ("dtype_not_string", st_bytes({"a": {"dtype": 7, "shape": [], "data_offsets": [0, 4]}}, bytes(4)),
         "format", "dtype", "dtype is a number"),
        ("unknown_dtype", st_bytes({"a": t("Q7", [1], 0, 4)}, bytes(4)), "format", "invalid dtype",
         "dtype Q7"),
        ("unsupported_dtype_i64", st_bytes({"a": t("I64", [1], 0, 8)}, bytes(8)), "unsupported",
         "unsupported dtype", "dtype I64"),
        ("unsupported_dtype_f8", st_bytes({"a": t("F8_E4M3", [4], 0, 4)}, bytes(4)), "unsupported",
         "unsupported dtype", "dtype F8_E4M3"),
        ("shape_missing", st_bytes({"a": {"dtype": "F32", "data_offsets": [0, 4]}}, bytes(4)), "format",
         "shape", "no shape"),
        ("shape_negative", st_bytes({"a": t("F32", [-1, 4], 0, 16)}, bytes(16)), "format", "shape",
         "negative dimension"),
        ("shape_fractional", st_bytes({"a": t("F32", [2.5, 2], 0, 20)}, bytes(20)), "format", "shape",
         "fractional dimension"),
        ("shape_huge_number", st_bytes(None, raw_header=b'{"a":{"dtype":"F32","shape":[1e300],'
                                                        b'"data_offsets":[0,4]}}') + bytes(4),
         "format", "shape", "dimension 1e300"),
        ("shape_overflow", st_bytes({"a": t("F32", [2**40, 2**40, 2**40], 0, 4)}, bytes(4)), "format",
         "overflows", "element count overflows 64 bits"),
        ("shape_bytes_overflow", st_bytes({"a": t("F32", [2**31, 2**31], 0, 4)}, bytes(4)), "format",
         "overflows", "byte size overflows 64 bits"),
        ("shape_nine_dims", st_bytes({"a": t("F32", [1] * 9, 0, 4)}, bytes(4)), "format", "dimensions",
         "9 dimensions"),
        ("offsets_missing", st_bytes({"a": {"dtype": "F32", "shape": [1]}}, bytes(4)), "format",
         "data_offsets", "no data_offsets"),
        ("offsets_three", st_bytes({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}}, bytes(4)),
         "format", "data_offsets", "data_offsets with 3 numbers"),
        ("offsets_negative", st_bytes({"a": t("F32", [1], -4, 0)}, bytes(4)), "format", "data_offsets",
         "negative offset"),
        ("offsets_gap", st_bytes({"a": t("F32", [2, 2], 0, 16), "b": t("BF16", [4], 20, 28)}, bytes(28)),
         "format", "gap", "4-byte gap between tensors"),
        ("offsets_overlap", st_bytes({"a": t("F32", [2, 2], 0, 16), "b": t("BF16", [4], 12, 20)}, bytes(20)),
         "format", "overlaps", "tensors overlap"),
        ("offsets_not_from_zero", st_bytes({"a": t("F32", [1], 4, 8)}, bytes(8)), "format", "gap",
         "data does not start at 0"),
        ("end_before_begin", st_bytes({"a": t("F32", [0], 8, 4)}, bytes(8)), "format", "before begin",
         "end < begin"),
        ("size_mismatch", st_bytes({"a": t("F32", [2, 2], 0, 12)}, bytes(12)), "format", "size mismatch",
         "shape needs 16 bytes, offsets give 12"),
        ("trailing_bytes", st_bytes(ok, data24 + b"PK\x03\x04"), "format", "trailing bytes",
         "4 bytes after the last tensor (polyglot)"),
        ("truncated_data", st_bytes(ok, data24[:20]), "format", "runs past the end",
         "data section cut short"),
        ("offsets_huge", st_bytes({"a": t("F32", [1], 2**62, 2**62 + 4)}, bytes(4)), "format", "data_offsets",
         "offsets near 2^62"),
        ("duplicate_names", st_bytes(None, raw_header=b'{"a":' + json.dumps(t("F32", [1], 0, 4)).encode() +
                                     b',"a":' + json.dumps(t("F32", [1], 4, 8)).encode() + b"}") + bytes(8),
         "format", "duplicate", "the same tensor name twice"),
        ("duplicate_field", st_bytes(None, raw_header=b'{"a":{"dtype":"F32","dtype":"F16","shape":[1],'
                                     b'"data_offsets":[0,4]}}') + bytes(4), "format", "duplicate key \"dtype\"",
         "an entry with dtype twice (cJSON would take the first, serde refuses)"),
        ("metadata_not_strings", st_bytes({"__metadata__": {"format": 1}, "a": t("F32", [1], 0, 4)}, bytes(4)),
         "format", "__metadata__", "__metadata__ value is a number"),
        ("metadata_not_object", st_bytes({"__metadata__": [1], "a": t("F32", [1], 0, 4)}, bytes(4)),
         "format", "__metadata__", "__metadata__ is a list"),
    ]


def index_json(weight_map, metadata=None):
    return json.dumps({"metadata": metadata or {"total_size": 0}, "weight_map": weight_map}).encode()


def ck_cases():
    """(name, {file: bytes}, kind, fragment, description); every folder has one valid shard."""
    shard = st_bytes({"a": t("F32", [1], 0, 4), "b": t("F32", [1], 4, 8)}, bytes(8))
    good = "model-00001-of-00001.safetensors"
    return [
        ("dotdot_path", {"model.safetensors.index.json": index_json({"a": "../evil.safetensors", "b": good}),
                         good: shard}, "format", "contains '/'", "weight_map names ../evil.safetensors"),
        ("absolute_path", {"model.safetensors.index.json": index_json({"a": "/etc/passwd", "b": good}),
                           good: shard}, "format", "contains '/'", "weight_map names /etc/passwd"),
        ("dotdot_alone", {"model.safetensors.index.json": index_json({"a": "..", "b": good}), good: shard},
         "format", "not a file name", "weight_map names .."),
        ("subdir_path", {"model.safetensors.index.json": index_json({"a": "sub/x.safetensors", "b": good}),
                         good: shard}, "format", "contains '/'", "weight_map names sub/x.safetensors"),
        ("empty_file_name", {"model.safetensors.index.json": index_json({"a": "", "b": good}), good: shard},
         "format", "is empty", "weight_map names an empty file name"),
        ("index_not_json", {"model.safetensors.index.json": b'{"weight_map": {', good: shard}, "format",
         "not valid JSON", "index is cut-off JSON"),
        ("index_no_weight_map", {"model.safetensors.index.json": b'{"metadata": {}}', good: shard}, "format",
         "weight_map", "index without weight_map"),
        ("weight_map_empty", {"model.safetensors.index.json": index_json({}), good: shard}, "format",
         "weight_map", "empty weight_map"),
        ("weight_map_not_string", {"model.safetensors.index.json": index_json({"a": 1, "b": good}), good: shard},
         "format", "must be a string", "file name is a number"),
        ("weight_map_duplicate", {"model.safetensors.index.json":
                                  ('{"weight_map": {"a": "%s", "a": "%s", "b": "%s"}}' % (good, good, good)).encode(),
                                  good: shard}, "format", "duplicate", "tensor listed twice"),
        ("total_size_negative", {"model.safetensors.index.json": index_json({"a": good, "b": good},
                                                                            {"total_size": -1}), good: shard},
         "format", "total_size", "metadata.total_size -1"),
        ("missing_shard", {"model.safetensors.index.json": index_json({"a": good, "b": "model-missing.safetensors"}),
                           good: shard}, "io", "model-missing.safetensors", "index names a shard that is not there"),
        ("tensor_not_in_shard", {"model.safetensors.index.json": index_json({"a": good, "b": good, "c": good}),
                                 good: shard}, "format", "is in none of the shards", "index lists a tensor no shard has"),
        ("tensor_not_in_index", {"model.safetensors.index.json": index_json({"a": good}), good: shard}, "format",
         "is not listed", "a shard holds a tensor the index does not list"),
        ("tensor_in_two_shards", {"model.safetensors.index.json": index_json({"a": good, "b": "two.safetensors"}),
                                  good: shard, "two.safetensors": shard}, "format", "also appears in",
         "the same tensor in two shards"),
        ("valid_two_shards", {"model.safetensors.index.json":
                                index_json({"a": good, "b": good, "c": "two.safetensors"}),
                                good: shard, "two.safetensors": st_bytes({"c": t("F32", [1], 0, 4)}, bytes(4)),
                                }, "ok", "", "a valid two-shard folder (control case)"),
        ("tensor_listed_elsewhere", {"model.safetensors.index.json":
                                     index_json({"a": "two.safetensors", "b": good, "c": good}),
                                     good: shard, "two.safetensors": st_bytes({"c": t("F32", [1], 0, 4)}, bytes(4))},
         "format", "is listed in", "index puts tensors in the wrong shard"),
        ("corrupt_shard", {"model.safetensors.index.json": index_json({"a": good}),
                           good: st_bytes({"a": t("F32", [1], 0, 4)}, bytes(9))}, "format", "trailing bytes",
         "the shard itself is corrupt"),
        ("no_weights", {"generation_config.json": b"{}"}, "io", "no model.safetensors", "folder without weights"),
    ]


LLAMA = {"architectures": ["LlamaForCausalLM"], "hidden_size": 128, "num_hidden_layers": 4,
         "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32, "intermediate_size": 384,
         "vocab_size": 8192, "max_position_embeddings": 512, "rms_norm_eps": 1e-5, "hidden_act": "silu",
         "rope_theta": 10000.0, "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2}


def cfg(**changes):
    c = dict(LLAMA)
    for k, v in changes.items():
        if v is DROP:
            c.pop(k, None)
        else:
            c[k] = v
    return json.dumps(c, indent=2).encode()


DROP = object()


def cfg_cases():
    return [
        ("valid_control", cfg(), "ok", "", "a valid config (control case)"),
        ("unknown_arch", cfg(architectures=["GPT2LMHeadModel"]), "unsupported", "architectures",
         "GPT2LMHeadModel"),
        ("arch_not_list", cfg(architectures="LlamaForCausalLM"), "format", "architectures", "architectures string"),
        ("missing_hidden", cfg(hidden_size=DROP), "format", "hidden_size", "no hidden_size"),
        ("missing_vocab", cfg(vocab_size=DROP), "format", "vocab_size", "no vocab_size"),
        ("negative_layers", cfg(num_hidden_layers=-4), "format", "num_hidden_layers", "-4 layers"),
        ("zero_heads", cfg(num_attention_heads=0), "format", "num_attention_heads", "0 heads"),
        ("fractional_heads", cfg(num_attention_heads=2.5), "format", "num_attention_heads", "2.5 heads"),
        ("kv_not_dividing", cfg(num_key_value_heads=3), "format", "num_key_value_heads",
         "3 kv heads for 4 heads"),
        ("heads_not_dividing_hidden", cfg(num_attention_heads=3, num_key_value_heads=1, head_dim=DROP), "format",
         "num_attention_heads", "128 hidden / 3 heads, no head_dim"),
        ("odd_head_dim", cfg(head_dim=31), "format", "head_dim", "head_dim 31"),
        ("huge_vocab", cfg(vocab_size=10**12), "format", "vocab_size", "vocab 1e12"),
        ("huge_ffn", cfg(intermediate_size=2**40), "format", "intermediate_size", "ffn 2^40"),
        ("huge_layers", cfg(num_hidden_layers=10**9), "format", "num_hidden_layers", "1e9 layers"),
        ("string_size", cfg(hidden_size="128"), "format", "hidden_size", "hidden_size as a string"),
        ("bad_eps", cfg(rms_norm_eps=-1e-5), "format", "rms_norm_eps", "negative eps"),
        ("bad_rope_type", cfg(rope_scaling={"rope_type": "yarn", "factor": 4.0}), "unsupported",
         "rope_scaling.rope_type", "rope type yarn"),
        ("bad_rope_parameters_type", cfg(rope_parameters={"rope_type": "dynamic", "rope_theta": 1e4}),
         "unsupported", "rope_parameters.rope_type", "rope type dynamic"),
        ("llama3_missing_factor", cfg(rope_scaling={"rope_type": "llama3", "low_freq_factor": 1,
                                                     "high_freq_factor": 4,
                                                     "original_max_position_embeddings": 8192}),
         "format", "rope_scaling.factor", "llama3 rope without factor"),
        ("bad_act", cfg(hidden_act="gelu"), "unsupported", "hidden_act", "gelu"),
        ("bos_out_of_range", cfg(bos_token_id=8192), "format", "bos_token_id", "bos id = vocab"),
        ("duplicate_key", cfg()[:-2] + b',\n  "hidden_size": 256\n}', "format", "duplicate", "hidden_size twice"),
        ("not_json", b'{"architectures": ["LlamaForCausalLM"], ', "format", "not valid JSON", "cut-off JSON"),
        ("not_object", b'["LlamaForCausalLM"]', "format", "not a JSON object", "a list"),
        ("empty", b"", "format", "not valid JSON", "empty file"),
        ("invalid_utf8", cfg()[:-2] + b',\n  "x": "\xff"\n}', "format", "invalid UTF-8", "byte 0xff"),
        ("deep_nesting", b'{"x":' + b"[" * 100000 + b"]" * 100000 + b"}", "format", "nested deeper",
         "100000-deep nesting"),
    ]


def link_tiny(tiny, d, names):
    """Symlink the valid model's files into d (so a CLI loading the folder meets only the corrupt part)."""
    for fn in names if tiny else []:
        if not os.path.lexists(os.path.join(d, fn)):
            os.symlink(os.path.join(tiny, fn), os.path.join(d, fn))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    tiny = None
    if "--tiny" in sys.argv:
        tiny = os.path.abspath(sys.argv[sys.argv.index("--tiny") + 1])
    rows = []
    os.makedirs(os.path.join(out, "st"), exist_ok=True)
    for i, (name, data, kind, frag, desc) in enumerate(st_cases()):
        rel = "st/%02d_%s.safetensors" % (i, name)
        with open(os.path.join(out, rel), "wb") as f:
            f.write(data)
        rows.append(("st", rel, kind, frag or "-", desc))
    for i, (name, files, kind, frag, desc) in enumerate(ck_cases()):
        rel = "ck/%02d_%s" % (i, name)
        os.makedirs(os.path.join(out, rel), exist_ok=True)
        for fn, data in files.items():
            with open(os.path.join(out, rel, fn), "wb") as f:
                f.write(data)
        link_tiny(tiny, os.path.join(out, rel), ("config.json", "tokenizer.json", "tokenizer_config.json"))
        rows.append(("ck", rel, kind, frag or "-", desc))
    for i, (name, data, kind, frag, desc) in enumerate(cfg_cases()):
        rel = "cfg/%02d_%s" % (i, name)
        d = os.path.join(out, rel)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "config.json"), "wb") as f:
            f.write(data)
        link_tiny(tiny, d, [fn for fn in sorted(os.listdir(tiny)) if fn != "config.json"] if tiny else [])
        rows.append(("cfg", rel, kind, frag or "-", desc))
    with open(os.path.join(out, "manifest.tsv"), "w") as f:
        for r in rows:
            assert all(x and "\t" not in x and "\n" not in x for x in r)   # no empty fields: read splits on tabs
            f.write("\t".join(r) + "\n")
    print("%d cases in %s" % (len(rows), out))


if __name__ == "__main__":
    main()
