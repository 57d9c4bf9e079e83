// Returning freed heap pages to the operating system (glibc keeps them in its arenas otherwise).
#include "CKernels.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

int loratop_return_freed_pages(void) {
#if defined(__GLIBC__)
    return malloc_trim(0);
#else
    return 0;
#endif
}
