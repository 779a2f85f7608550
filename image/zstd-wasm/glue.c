/* wasifs glue: one statically allocated zstd decompression context (in .bss), no allocator. */
#define ZSTD_STATIC_LINKING_ONLY
#include "zstd.h"
#include "decompress/zstd_decompress_internal.h"
#include "common/xxhash.h"

static union { ZSTD_DCtx dctx; unsigned long long align; } wz_ws;
static ZSTD_DCtx *wz_dctx;

/* Decodes the zstd frame in src into dst a zstd block at a time, stopping once at least `want`
 * bytes are out or at the end of the frame: the size written, or (size_t)-1 on any error (corrupt
 * input, dst too small). The frame's window size does not matter: decoding straight into one
 * contiguous dst only ever references dst itself. */
size_t wasifs_zstd_decompress(void *dst, size_t cap, const void *src, size_t len, size_t want)
{
    const char *ip = (const char *)src;
    size_t out = 0;
    if (wz_dctx == NULL) {
        wz_dctx = ZSTD_initStaticDCtx(&wz_ws, sizeof wz_ws);
        if (wz_dctx == NULL) return (size_t)-1;
        /* wasifs images carry no checksums; ignore any (XXH64 is stubbed out below). */
        /* = ZSTD_DCtx_setParameter(wz_dctx, ZSTD_d_forceIgnoreChecksum, ZSTD_d_ignoreChecksum),
         * without the parameter dispatch code. */
        wz_dctx->forceIgnoreChecksum = ZSTD_d_ignoreChecksum;
    }
    /* Buffer-less streaming (ZSTD_decompressContinue): no dictionary, no allocation. */
    if (ZSTD_isError(ZSTD_decompressBegin(wz_dctx))) return (size_t)-1;
    while (out < want) {
        size_t n = ZSTD_nextSrcSizeToDecompress(wz_dctx), r;
        if (n == 0) break; /* end of the frame */
        if (n > len) return (size_t)-1;
        r = ZSTD_decompressContinue(wz_dctx, (char *)dst + out, cap - out, ip, n);
        if (ZSTD_isError(r)) return (size_t)-1;
        ip += n;
        len -= n;
        out += r;
    }
    return out;
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
