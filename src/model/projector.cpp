#include "model/projector.h"

namespace privprobe {

namespace nn = torch::nn;

LlavaProjectorImpl::LlavaProjectorImpl(const LlavaConfig& c) {
  const bool bias = c.multimodal_projector_bias;
  linear_1 = register_module("linear_1", Linear(c.vision.hidden_size, c.text.hidden_size, bias));
  linear_2 = register_module("linear_2", Linear(c.text.hidden_size, c.text.hidden_size, bias));
}

torch::Tensor LlavaProjectorImpl::forward(const torch::Tensor& features) {
  return linear_2->forward(torch::gelu(linear_1->forward(features)));  // exact (erf) GELU, as "gelu" in HF
}

}  // namespace privprobe
