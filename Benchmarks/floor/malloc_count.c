/* Counts heap allocations for the benchmark: LD_PRELOAD this library and the bench
 * reads admit_malloc_count() through dlsym. Forwards to glibc's allocator. */
#include <stddef.h>
#include <stdint.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static uint64_t count;

uint64_t admit_malloc_count(void) { return __atomic_load_n(&count, __ATOMIC_RELAXED); }

void *malloc(size_t size) { __atomic_fetch_add(&count, 1, __ATOMIC_RELAXED); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { __atomic_fetch_add(&count, 1, __ATOMIC_RELAXED); return __libc_calloc(n, size); }
void *realloc(void *p, size_t size) { __atomic_fetch_add(&count, 1, __ATOMIC_RELAXED); return __libc_realloc(p, size); }
int posix_memalign(void **p, size_t align, size_t size) {
    __atomic_fetch_add(&count, 1, __ATOMIC_RELAXED);
    void *block = __libc_memalign(align, size);
    if (!block) return 12; /* ENOMEM */
    *p = block;
    return 0;
}
