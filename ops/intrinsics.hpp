#pragma once
// <immintrin.h>, included first by the files whose code GCC inlines AVX-512 intrinsics into (xsimd's
// math under -march=native, xgrad's own GEMM). GCC 12 warns "__Y (may be) used uninitialized" inside
// its own avx512fintrin.h, whose masked intrinsics start from _mm512_undefined_ps; nothing reads
// those lanes. Included here under a pushed pragma, the header's lines are silenced and nothing else.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#elif defined(__x86_64__)
#include <immintrin.h>  // clang (the fuzz build, tests/fuzz): no such warnings
#endif
