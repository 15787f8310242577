// LLaVA's mlp2x_gelu projector: vision width -> language width. Names follow Hugging Face:
//   multi_modal_projector.{linear_1, linear_2}.{weight, bias}
#pragma once

#include <torch/torch.h>

#include "model/linear.h"
#include "model/llava_config.h"

namespace privprobe {

struct LlavaProjectorImpl : torch::nn::Module {
  explicit LlavaProjectorImpl(const LlavaConfig& config);
  torch::Tensor forward(const torch::Tensor& features);  // [.., Dv] -> [.., D]
  Linear linear_1{nullptr}, linear_2{nullptr};
};
TORCH_MODULE(LlavaProjector);

}  // namespace privprobe
