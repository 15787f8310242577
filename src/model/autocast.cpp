#include "model/autocast.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include "util/error.h"

namespace privprobe {
namespace {

// 2.4 replaced the per-backend functions (is_enabled for CUDA, is_cpu_enabled, ...) by functions
// of the device type, and deprecated the old ones.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define PRIVPROBE_AUTOCAST_BY_DEVICE_TYPE 1
#endif

void check_device(torch::DeviceType device) {
  if (device != torch::kCPU && device != torch::kCUDA) {
    throw ConfigError(error_message("autocast", "only CPU and CUDA devices are supported"));
  }
}

void apply(torch::DeviceType device, const AutocastSettings& settings) {
#ifdef PRIVPROBE_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_enabled(device, settings.enabled);
  at::autocast::set_autocast_dtype(device, settings.dtype);
#else
  if (device == torch::kCUDA) {
    at::autocast::set_enabled(settings.enabled);
    at::autocast::set_autocast_gpu_dtype(settings.dtype);
  } else {
    at::autocast::set_cpu_enabled(settings.enabled);
    at::autocast::set_autocast_cpu_dtype(settings.dtype);
  }
#endif
}

}  // namespace

AutocastSettings autocast_settings(torch::DeviceType device) {
  check_device(device);
#ifdef PRIVPROBE_AUTOCAST_BY_DEVICE_TYPE
  return {at::autocast::is_autocast_enabled(device), at::autocast::get_autocast_dtype(device)};
#else
  if (device == torch::kCUDA) return {at::autocast::is_enabled(), at::autocast::get_autocast_gpu_dtype()};
  return {at::autocast::is_cpu_enabled(), at::autocast::get_autocast_cpu_dtype()};
#endif
}

AutocastGuard::AutocastGuard(torch::DeviceType device, AutocastSettings settings)
    : device_(device), previous_(autocast_settings(device)) {
  apply(device_, settings);
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  apply(device_, previous_);
}

}  // namespace privprobe
