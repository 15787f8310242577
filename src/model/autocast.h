// Automatic mixed precision (autocast) from C++: inside an AutocastGuard, matrix products and
// convolutions on a device run in a lower precision (bf16) while weights and reductions keep
// theirs, as Python's `with torch.autocast(device, dtype)`. libtorch 1.13 and 2.x name these
// settings differently (2.4 made them per device type); this header hides which one is built.
#pragma once

#include <torch/torch.h>

namespace privprobe {

struct AutocastSettings {
  bool enabled = false;
  torch::Dtype dtype = torch::kBFloat16;
};

// The settings in force for a device type (CPU or CUDA).
AutocastSettings autocast_settings(torch::DeviceType device);

// Applies settings to a device type for the guard's lifetime, then restores the previous ones;
// the outermost guard clears autocast's cache of cast weights when it ends (as torch.autocast).
class AutocastGuard {
 public:
  AutocastGuard(torch::DeviceType device, AutocastSettings settings);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  torch::DeviceType device_;
  AutocastSettings previous_;
};

}  // namespace privprobe
