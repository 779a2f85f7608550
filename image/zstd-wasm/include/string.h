/* Freestanding <string.h> for the wasm32 zstd decoder: zstd calls only memcpy/memmove/memset
 * (as __builtin_*, lowered to memory.copy/memory.fill with bulk-memory, or to the mem* functions
 * that Rust's compiler_builtins provides). */
#ifndef WZ_STRING_H
#define WZ_STRING_H
#include <stddef.h>
void *memcpy(void *, const void *, size_t);
void *memmove(void *, const void *, size_t);
void *memset(void *, int, size_t);
#endif
