#pragma once
// The benchmark programs' first line: which OpenBLAS kernels ("core") this process runs, and, when
// OpenBLAS misdetected the CPU, the OPENBLAS_CORETYPE to export for the better ones (OpenBLAS reads
// it only when it loads; see blas_info in ops/ops.hpp).
#include <cstdio>

#include <xgrad/ops/ops.hpp>

namespace xgrad::bench {

inline void print_blas_core(const char* program) {
    const blas_info blas = blas_config();
    std::printf("%s: OpenBLAS core %s%s\n", program, blas.core.c_str(), blas.env_set ? " (from OPENBLAS_CORETYPE)" : "");
    if (!blas.suggested_core.empty())
        std::printf("note: this CPU can run OpenBLAS core %s; for its kernels run with OPENBLAS_CORETYPE=%s\n",
                    blas.suggested_core.c_str(), blas.suggested_core.c_str());
}

}  // namespace xgrad::bench
