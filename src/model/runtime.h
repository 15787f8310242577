// The numerical stack at run time: threads for libtorch and OpenBLAS, the BLAS kernel in use,
// CUDA. Free of libtorch headers so commands that only set threads compile fast
// (parse_device, which needs them, is in model/device.h).
#pragma once

#include <string>

namespace privprobe {

struct RuntimeInfo {
  std::string torch_version;
  std::string blas_library;   // path of the shared object providing sgemm_, or "unknown"
  std::string openblas_core;  // OpenBLAS's chosen kernel ("SkylakeX", "Prescott"...), empty if not OpenBLAS
  std::string openblas_config;
  std::string openblas_coretype_env;  // OPENBLAS_CORETYPE when set: it forces the kernel
  int torch_threads = 0;
  int blas_threads = 0;
  bool cuda_available = false;
  int cuda_devices = 0;
  std::string cpu_flags_summary;  // "avx512f avx2 fma" subset found in /proc/cpuinfo
  std::string hint;               // a faster setting, when one is known
};

// Sets libtorch's intra-op threads and OpenBLAS's threads. threads <= 0 picks the measured best
// split on this class of machine: one libtorch thread and one BLAS thread per core (two libtorch
// threads plus two BLAS threads oversubscribed and was slowest).
void configure_threads(int threads);

RuntimeInfo runtime_info();

}  // namespace privprobe
