// How the inference stages (extract, ask, eval) run a checkpoint: device, precision, threads and
// the conversation template. Torch-free so the stages' config headers stay light.
#pragma once

#include <string>

namespace privprobe {

struct InferenceOptions {
  std::string device = "cpu";   // cpu, cuda, cuda:N
  std::string dtype = "f32";    // f32, bf16, f16: the dtype the weights are computed in
  int threads = 0;              // 0: the measured best split for this machine (model/runtime.h)
  std::string template_name;    // empty: the checkpoint's own

  void validate() const;  // throws ConfigError for an unknown dtype or negative threads
};

}  // namespace privprobe
