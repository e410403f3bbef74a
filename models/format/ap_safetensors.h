/* ap_safetensors.h — reading (mmap or memory buffer, fully validated) and writing safetensors files,
 * and checkpoints made of one file or several shards listed in model.safetensors.index.json. */
#ifndef AP_SAFETENSORS_H
#define AP_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "ap_error.h"

typedef enum { AP_DT_F32, AP_DT_F16, AP_DT_BF16 } ap_dtype;

#define AP_ST_MAX_DIMS 8
#define AP_ST_MAX_HEADER (100u * 1000u * 1000u)

typedef struct ap_st_tensor {
    const char *name; /* borrowed from the file object */
    ap_dtype dtype;
    int ndim;
    int64_t shape[AP_ST_MAX_DIMS];
    int64_t numel;
    const void *data; /* borrowed: points into the mapping / buffer */
    size_t nbytes;
} ap_st_tensor;

typedef struct ap_safetensors ap_safetensors; /* one validated file */

/* Memory-mapped files and SIGBUS: files are mapped read-only with MAP_PRIVATE. If another process truncates
 * or rewrites a file IN PLACE while it is open, touching the lost pages raises SIGBUS and the process dies;
 * we do not catch it (a handler cannot recover a half-read tensor). Model files must therefore not be modified
 * in place while open: our writers never do (they write a temp file and rename it over, so an open mapping keeps
 * the old inode), HF tools do the same, and search candidates run in worker processes, so a SIGBUS there costs
 * one candidate. Callers that cannot accept this open with AP_ST_OPEN_READ (the file is read into memory).
 * Tensor data is NOT aligned in general (safetensors does not require it): read it with ap_dtype_to_f32 or memcpy. */
#define AP_ST_OPEN_READ 1u /* read the whole file into the heap instead of mapping it */

/* Open and validate a file (mmap, read-only). `*out` is the caller's, freed with ap_safetensors_close.
 * Errors name the file and, where there is one, the tensor and field. Other dtypes than F32/F16/BF16:
 * AP_E_UNSUPPORTED ("unsupported dtype"); a dtype string that is not a safetensors dtype: AP_E_FORMAT. */
ap_status ap_safetensors_open(ap_safetensors **out, const char *path, ap_error *err);
/* ap_safetensors_open with flags (AP_ST_OPEN_READ or 0). */
ap_status ap_safetensors_open_flags(ap_safetensors **out, const char *path, unsigned flags, ap_error *err);
/* The same validation over a caller's buffer (borrowed; must outlive the object). `label` names it in errors. */
ap_status ap_safetensors_open_buffer(ap_safetensors **out, const void *buf, size_t len, const char *label,
                                     ap_error *err);
void ap_safetensors_close(ap_safetensors *st);
size_t ap_safetensors_count(const ap_safetensors *st);
const ap_st_tensor *ap_safetensors_at(const ap_safetensors *st, size_t i); /* file order of data */
const ap_st_tensor *ap_safetensors_find(const ap_safetensors *st, const char *name);
size_t ap_dtype_size(ap_dtype dt);
const char *ap_dtype_name(ap_dtype dt);
/* Convert n elements of dtype dt at src to float32. */
void ap_dtype_to_f32(ap_dtype dt, const void *src, float *dst, size_t n);
/* Convert float32 to dtype dt (round to nearest even for bf16/f16). */
void ap_dtype_from_f32(ap_dtype dt, const float *src, void *dst, size_t n);

/* A checkpoint folder: model.safetensors, or model.safetensors.index.json + shards (plain names only).
 * model.safetensors wins when both exist (as in transformers). Every tensor must be in exactly one shard and the
 * index must list exactly the shards' tensors. Tensors are borrowed from the checkpoint (valid until close);
 * ap_checkpoint_at orders them shard by shard (shards by file name), each in data order. */
typedef struct ap_checkpoint ap_checkpoint;
ap_status ap_checkpoint_open(ap_checkpoint **out, const char *dir, ap_error *err);
/* Validate an index.json given as a buffer (for fuzzing); fills nothing else. */
ap_status ap_checkpoint_check_index(const char *json, size_t len, const char *label, ap_error *err);
void ap_checkpoint_close(ap_checkpoint *ck);
const ap_st_tensor *ap_checkpoint_find(const ap_checkpoint *ck, const char *name);
size_t ap_checkpoint_count(const ap_checkpoint *ck);
const ap_st_tensor *ap_checkpoint_at(const ap_checkpoint *ck, size_t i);

/* Writing. Tensors are given as float32 and stored in `dtype`. */
typedef struct ap_st_entry {
    const char *name;
    ap_dtype dtype;
    int ndim;
    int64_t shape[AP_ST_MAX_DIMS];
    const float *data; /* borrowed, numel float32 values */
} ap_st_entry;
/* Write one file atomically (temp file + fsync + rename): header padded with spaces to 8 bytes. */
ap_status ap_safetensors_write(const char *path, const ap_st_entry *entries, size_t n, ap_error *err);
/* Write a model folder: shards of at most shard_bytes (0 = one file) plus index.json when sharded, and copy
 * config.json, generation_config.json, tokenizer.json, tokenizer_config.json, tokenizer.model,
 * special_tokens_map.json from src_dir when present. */
ap_status ap_checkpoint_write(const char *out_dir, const char *src_dir, const ap_st_entry *entries, size_t n,
                              size_t shard_bytes, ap_error *err);

#endif
