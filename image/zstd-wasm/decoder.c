/* zstd's decompressor as one translation unit (decompression only; see build.rs for the defines).
 *
 * Frame parsing, entropy tables and Huffman (everything before zstd_decompress_block.c) are compiled
 * as with -DZSTD_NO_INLINE: much smaller, no measurable speed difference. zstd_decompress_block.c
 * keeps zstd's forced inlining, and is included as build.rs rewrote it (OUT_DIR): both sequence
 * loops call one out-of-line ZSTD_decodeSequence, and the rarely used split-literals loop also calls
 * the match copy (ZSTD_execSequence*) out of line; the regular loop still inlines ZSTD_execSequence.
 * That layout is what fits the shim in its 64 KiB budget: ~2.4x ruzstd's speed (all-inline zstd:
 * ~2.9x, everything out of line: ~1.9x), measured in wasm on 256 KiB chunks.
 *
 * One unit instead of several keeps one copy of the tables and helpers the parts share. The inline
 * macros are switched between the includes: FORCE_INLINE_TEMPLATE / HINT_INLINE expand them where
 * each function is defined, and each header is defined (guarded) by the first file that needs it. */
#include "common/compiler.h"

#undef INLINE_KEYWORD
#undef FORCE_INLINE_ATTR
#define INLINE_KEYWORD
#define FORCE_INLINE_ATTR

/* No allocator and no custom allocators: the one context is static (glue.c) and there are no
 * dictionaries. These replace common/allocations.h (same signatures) so that no indirect call
 * through ZSTD_customMem's function pointers remains in the shim. */
#define ZSTD_STATIC_LINKING_ONLY
#include "zstd.h"
#define ZSTD_ALLOCATIONS_H
MEM_STATIC void* ZSTD_customMalloc(size_t size, ZSTD_customMem customMem)
{ (void)size; (void)customMem; return NULL; }
MEM_STATIC void* ZSTD_customCalloc(size_t size, ZSTD_customMem customMem)
{ (void)size; (void)customMem; return NULL; }
MEM_STATIC void ZSTD_customFree(void* ptr, ZSTD_customMem customMem)
{ (void)ptr; (void)customMem; }

#include "common/entropy_common.c"
#include "common/fse_decompress.c"
#include "common/error_private.c"
#include "common/zstd_common.c"
#include "decompress/huf_decompress.c"
#include "decompress/zstd_ddict.c"
#include "decompress/zstd_decompress.c"

#undef INLINE_KEYWORD
#undef FORCE_INLINE_ATTR
#define INLINE_KEYWORD inline
#define FORCE_INLINE_ATTR __attribute__((always_inline))
#include "zstd_decompress_block_wz.c"
