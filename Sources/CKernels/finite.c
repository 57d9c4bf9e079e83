// Finding a NaN or an infinity in a float array at memory speed: the exponent test on the bits vectorises (an integer
// OR-reduction per block), and only a block that holds one is walked again for the index.
#include "CKernels.h"
#include <string.h>

int64_t loratop_first_nonfinite(const float *x, int64_t n) {
    enum { block = 1024 };
    for (int64_t start = 0; start < n; start += block) {
        int64_t len = n - start < block ? n - start : block;
        const float *p = x + start;
        uint32_t any = 0;
        for (int64_t i = 0; i < len; i++) {
            uint32_t bits;
            memcpy(&bits, p + i, sizeof bits);
            any |= ((bits & 0x7f800000u) == 0x7f800000u);
        }
        if (!any) continue;
        for (int64_t i = 0; i < len; i++) {
            uint32_t bits;
            memcpy(&bits, p + i, sizeof bits);
            if ((bits & 0x7f800000u) == 0x7f800000u) return start + i;
        }
    }
    return -1;
}
