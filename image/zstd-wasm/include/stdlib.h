/* Freestanding <stdlib.h> for the wasm32 zstd decoder: the decompression context is static, so
 * nothing allocates; the allocating entry points (ZSTD_createDCtx, DDicts) are dead code. */
#ifndef WZ_STDLIB_H
#define WZ_STDLIB_H
#include <stddef.h>
static inline void *malloc(size_t n) { (void)n; return NULL; }
static inline void *calloc(size_t n, size_t s) { (void)n; (void)s; return NULL; }
static inline void free(void *p) { (void)p; }
#endif
