// A Linear layer (parameters `weight` [out, in] and optional `bias` [out], as torch::nn::Linear
// and Hugging Face) that can carry a LoRA adapter: y = x W^T + b + (alpha / r) * B(A(dropout(x))).
// With an adapter its parameters are named `lora_A.weight` [r, in] and `lora_B.weight` [out, r],
// the names PEFT uses, so adapters save and load in PEFT's layout.
#pragma once

#include <torch/torch.h>

namespace privprobe {

struct LoraSettings {
  int rank = 0;
  double alpha = 0;
  double dropout = 0;
};

struct LinearImpl : torch::nn::Module {
  LinearImpl(int64_t in_features, int64_t out_features, bool bias = true);
  torch::Tensor forward(const torch::Tensor& x);

  // Adds a LoRA adapter: A ~ Kaiming-uniform (as PEFT), B = 0, so the layer's output is unchanged
  // until training moves B. Throws ConfigError if one exists already or rank < 1.
  void add_lora(const LoraSettings& settings);
  bool has_lora() const { return static_cast<bool>(lora_A); }
  // Folds the adapter into weight (W += scale * B A) and removes it.
  void merge_lora();
  double lora_scale() const { return lora_.rank > 0 ? lora_.alpha / lora_.rank : 0.0; }

  int64_t in_features, out_features;
  torch::Tensor weight, bias;
  torch::nn::Linear lora_A{nullptr}, lora_B{nullptr};
  LoraSettings lora_;
};
TORCH_MODULE(Linear);

}  // namespace privprobe
