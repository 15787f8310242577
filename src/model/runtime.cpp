#include "model/runtime.h"

#include <torch/torch.h>

#include "model/device.h"

#include <dlfcn.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <torch/version.h>

#include "util/blas_threads.h"
#include "util/error.h"

namespace privprobe {
namespace {

template <typename Fn>
Fn find_symbol(const char* name) {
  return reinterpret_cast<Fn>(::dlsym(RTLD_DEFAULT, name));
}

int hardware_cores() {
  const unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
}

std::string cpu_flags() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) == 0) {
      std::string found;
      for (const char* flag : {"avx512f", "avx512_bf16", "amx_tile", "avx2", "fma"}) {
        if (line.find(std::string(" ") + flag) != std::string::npos) found += (found.empty() ? "" : " ") + std::string(flag);
      }
      return found;
    }
  }
  return {};
}

}  // namespace

void configure_threads(int threads) {
  const int cores = hardware_cores();
  const int blas = threads > 0 ? threads : cores;
  torch::set_num_threads(threads > 0 ? threads : 1);
  set_openblas_threads(blas);
}

RuntimeInfo runtime_info() {
  RuntimeInfo info;
  info.torch_version = TORCH_VERSION;
  info.torch_threads = torch::get_num_threads();
  if (void* sgemm = ::dlsym(RTLD_DEFAULT, "sgemm_")) {
    Dl_info dl;
    if (::dladdr(sgemm, &dl) && dl.dli_fname) info.blas_library = dl.dli_fname;
  }
  if (info.blas_library.empty()) info.blas_library = "unknown (sgemm_ not found: libtorch may use its own kernels)";
  if (auto core = find_symbol<char* (*)()>("openblas_get_corename")) info.openblas_core = core();
  if (auto config = find_symbol<char* (*)()>("openblas_get_config")) info.openblas_config = config();
  info.blas_threads = openblas_threads();
  info.cuda_available = torch::cuda::is_available();
  info.cuda_devices = info.cuda_available ? static_cast<int>(torch::cuda::device_count()) : 0;
  info.cpu_flags_summary = cpu_flags();
  const bool avx512 = info.cpu_flags_summary.find("avx512f") != std::string::npos;
  const bool avx2 = info.cpu_flags_summary.find("avx2") != std::string::npos;
  const std::string& core = info.openblas_core;
  const bool generic = core == "Prescott" || core == "Core2" || core == "Nehalem" || core == "Atom" || core == "Generic" ||
                       core == "Sandybridge" || core == "Katmai" || core == "Penryn" || core == "Dunnington";
  if (const char* forced = std::getenv("OPENBLAS_CORETYPE")) info.openblas_coretype_env = forced;
  if (!core.empty() && generic && (avx512 || avx2)) {
    info.hint = "OpenBLAS chose its '" + core + "' kernels although the CPU has " + (avx512 ? "AVX-512" : "AVX2") +
                ": export OPENBLAS_CORETYPE=" + (avx512 ? "SkylakeX" : "Haswell") +
                " before running privprobe (matrix products were about 4x faster so in our measurements)";
  } else if (!core.empty() && avx512 && core != "SkylakeX" && core != "Cooperlake" && core != "SapphireRapids") {
    info.hint = "the CPU has AVX-512 but OpenBLAS runs its '" + core +
                "' kernels: OPENBLAS_CORETYPE=SkylakeX may be faster (compare with bench/)";
  }
  return info;
}

torch::Device parse_device(const std::string& name) {
  if (name == "cpu") return torch::Device(torch::kCPU);
  if (name.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available()) {
      throw ConfigError(error_message("--device " + name, "CUDA is not available in this libtorch",
                                      "build against the libtorch of a CUDA-enabled torch wheel (see README)"));
    }
    return torch::Device(name);
  }
  throw ConfigError(error_message("--device " + name, "unknown device (cpu, cuda, cuda:N)"));
}

}  // namespace privprobe
