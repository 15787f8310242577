#include "infer/inference_options.h"

#include "util/error.h"

namespace privprobe {

void InferenceOptions::validate() const {
  if (dtype != "f32" && dtype != "bf16" && dtype != "f16") {
    throw ConfigError(error_message("--dtype " + dtype, "unknown dtype", "f32, bf16 or f16"));
  }
  if (threads < 0) throw ConfigError(error_message("--threads", "must be 0 (automatic) or positive"));
  if (device.empty()) throw ConfigError(error_message("--device", "must not be empty", "cpu, cuda or cuda:N"));
  // libtorch's CPU kernels lack f16 for convolution (the vision tower's patch embedding) and more.
  if (dtype == "f16" && device == "cpu") {
    throw ConfigError(error_message("--dtype f16", "needs --device cuda: the CPU has no f16 arithmetic in libtorch",
                                    "use --dtype bf16 on the CPU"));
  }
}

}  // namespace privprobe
