// The device a command asked for.
#pragma once

#include <string>

#include <torch/torch.h>

namespace privprobe {

// "cpu", "cuda" or "cuda:N" -> a device; "cuda" without CUDA -> ConfigError with a hint.
torch::Device parse_device(const std::string& name);

}  // namespace privprobe
