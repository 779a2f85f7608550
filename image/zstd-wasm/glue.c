/* wasifs glue: one statically allocated zstd decompression context (in .bss), no allocator. */
#define ZSTD_STATIC_LINKING_ONLY
#include "zstd.h"
#include "decompress/zstd_decompress_internal.h"
#include "common/xxhash.h"

static union { ZSTD_DCtx dctx; unsigned long long align; } wz_ws;
static ZSTD_DCtx *wz_dctx;

/* Buffer-less streaming (ZSTD_decompressContinue) driven from Rust (image/src/decode.rs), which
 * reads each step's compressed bytes from the image just before it is decoded: no allocation, and
 * at most a raw-content dictionary (shared blocks of small files may have one). The frame's window size does not matter: decoding straight into one contiguous dst
 * only ever references dst itself. */

/* Starts decoding a frame: 0, or (size_t)-1 on error. */
size_t wasifs_zstd_begin(void)
{
    if (wz_dctx == NULL) {
        wz_dctx = ZSTD_initStaticDCtx(&wz_ws, sizeof wz_ws);
        if (wz_dctx == NULL) return (size_t)-1;
        /* wasifs images carry no checksums; ignore any (XXH64 is stubbed out below). */
        /* = ZSTD_DCtx_setParameter(wz_dctx, ZSTD_d_forceIgnoreChecksum, ZSTD_d_ignoreChecksum),
         * without the parameter dispatch code. */
        wz_dctx->forceIgnoreChecksum = ZSTD_d_ignoreChecksum;
    }
    return ZSTD_isError(ZSTD_decompressBegin(wz_dctx)) ? (size_t)-1 : 0;
}

/* Like wasifs_zstd_begin, for a frame compressed against the raw-content dictionary dict[..len]
 * (no header, no entropy tables: history before the frame's first byte, which must stay in place
 * until the frame is decoded). What ZSTD_decompressBegin_usingDict does for such a dictionary
 * (ZSTD_refDictContent), without its code for the other kind. */
size_t wasifs_zstd_begin_prefix(const void *dict, size_t len)
{
    if (wasifs_zstd_begin() != 0) return (size_t)-1;
    if (len != 0) {
        wz_dctx->dictEnd = wz_dctx->previousDstEnd;
        wz_dctx->virtualStart = dict;
        wz_dctx->prefixStart = dict;
        wz_dctx->previousDstEnd = (const char *)dict + len;
    }
    return 0;
}

/* The exact number of compressed bytes the next step takes; 0 at the end of the frame. */
size_t wasifs_zstd_next(void)
{
    return ZSTD_nextSrcSizeToDecompress(wz_dctx);
}

/* Decodes one step (src[..len], len = wasifs_zstd_next()) into dst[..cap]: the size written, or
 * (size_t)-1 on any error (corrupt input, dst too small). */
size_t wasifs_zstd_continue(void *dst, size_t cap, const void *src, size_t len)
{
    size_t r = ZSTD_decompressContinue(wz_dctx, dst, cap, src, len);
    return ZSTD_isError(r) ? (size_t)-1 : r;
}

/* The uncompressed size the zstd frame at src declares: ZSTD_CONTENTSIZE_UNKNOWN or _ERROR (the
 * two largest values) when it declares none or is not a frame. */
unsigned long long wasifs_zstd_content_size(const void *src, size_t len)
{
    return ZSTD_getFrameContentSize(src, len);
}

/* XXH64 is only reached for a frame checksum when checksums are validated, which they never are
 * (see above), and for dictionary ids (no dictionaries): stubs instead of common/xxhash.c. */
XXH_errorcode XXH64_reset(XXH64_state_t *s, XXH64_hash_t seed) { (void)s; (void)seed; return XXH_OK; }
XXH_errorcode XXH64_update(XXH64_state_t *s, const void *p, size_t n) { (void)s; (void)p; (void)n; return XXH_OK; }
XXH64_hash_t XXH64_digest(const XXH64_state_t *s) { (void)s; return 0; }
XXH64_hash_t XXH64(const void *p, size_t n, XXH64_hash_t seed) { (void)p; (void)n; (void)seed; return 0; }
