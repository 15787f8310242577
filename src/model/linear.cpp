#include "model/linear.h"

#include <cmath>

#include "model/parameter_init.h"
#include "util/error.h"

namespace privprobe {

LinearImpl::LinearImpl(int64_t in, int64_t out, bool with_bias) : in_features(in), out_features(out) {
  // torch::nn::Linear's default initialisation; model constructors re-initialise as Hugging Face.
  weight = register_parameter("weight", torch::empty({out, in}));
  if (with_bias) bias = register_parameter("bias", torch::empty({out}));
  if (!parameter_init_enabled()) return;
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (with_bias) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    torch::NoGradGuard no_grad;  // an in-place draw on a registered parameter
    bias.uniform_(-bound, bound);
  }
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
  auto y = torch::linear(x, weight, bias);
  if (lora_A) {
    auto h = lora_.dropout > 0 ? torch::dropout(x, lora_.dropout, is_training()) : x;
    y = y + lora_B->forward(lora_A->forward(h)) * lora_scale();
  }
  return y;
}

void LinearImpl::add_lora(const LoraSettings& settings) {
  if (lora_A) throw ConfigError("layer already has a LoRA adapter");
  if (settings.rank < 1) throw ConfigError("LoRA rank must be at least 1");
  lora_ = settings;
  auto options = torch::nn::LinearOptions(in_features, settings.rank).bias(false);
  lora_A = register_module("lora_A", torch::nn::Linear(options));
  lora_B = register_module("lora_B", torch::nn::Linear(torch::nn::LinearOptions(settings.rank, out_features).bias(false)));
  torch::NoGradGuard no_grad;
  torch::nn::init::kaiming_uniform_(lora_A->weight, std::sqrt(5.0));
  torch::nn::init::zeros_(lora_B->weight);
  lora_A->to(weight.device(), weight.scalar_type());
  lora_B->to(weight.device(), weight.scalar_type());
}

void LinearImpl::merge_lora() {
  if (!lora_A) return;
  {
    torch::NoGradGuard no_grad;
    weight.add_(torch::matmul(lora_B->weight, lora_A->weight) * lora_scale());
  }
  unregister_module("lora_A");
  unregister_module("lora_B");
  lora_A = nullptr;
  lora_B = nullptr;
  lora_ = {};
}

}  // namespace privprobe
