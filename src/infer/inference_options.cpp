#include "infer/inference_options.h"

#include "util/error.h"

namespace privprobe {

void InferenceOptions::validate() const {
  if (dtype != "f32" && dtype != "bf16" && dtype != "f16") {
    throw ConfigError(error_message("--dtype " + dtype, "unknown dtype", "f32, bf16 or f16"));
  }
  if (threads < 0) throw ConfigError(error_message("--threads", "must be 0 (automatic) or positive"));
  if (device.empty()) throw ConfigError(error_message("--device", "must not be empty", "cpu, cuda or cuda:N"));
}

}  // namespace privprobe
