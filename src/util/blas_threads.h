// OpenBLAS's thread count, reached through dlsym: libtorch may be linked to another BLAS, and
// then these do nothing (openblas_threads() returns 0).
#pragma once

namespace privprobe {

int openblas_threads();
void set_openblas_threads(int threads);

}  // namespace privprobe
