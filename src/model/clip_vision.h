// CLIP vision tower (CLIPVisionModel), as LLaVA uses it. Parameter names follow Hugging Face:
//   vision_model.embeddings.{patch_embedding.weight, class_embedding, position_embedding.weight}
//   vision_model.pre_layrnorm.{weight,bias}
//   vision_model.encoder.layers.N.{layer_norm1, self_attn.{q,k,v,out}_proj, layer_norm2, mlp.fc1, mlp.fc2}
//   vision_model.post_layernorm.{weight,bias}   (kept for loading; LLaVA never uses its output)
//   vision_model.embeddings.conv_stem.N.{weight,bias}   (privprobe's optional stem, not in CLIP)
// Legend: B batch, C channels, S image side, P patches, T = P + 1 tokens, D width, H heads, Hd head dim.
#pragma once

#include <vector>

#include <torch/torch.h>

#include "model/linear.h"
#include "model/llava_config.h"

namespace privprobe {

struct ClipEmbeddingsImpl : torch::nn::Module {
  explicit ClipEmbeddingsImpl(const VisionConfig& config);
  torch::Tensor forward(const torch::Tensor& pixels);  // [B, C, S, S] -> [B, T, D]

  torch::nn::ModuleList conv_stem{nullptr};       // VisionConfig::conv_stem: Conv2d 3x3 stride 2 each, GELU after
  torch::nn::Conv2d patch_embedding{nullptr};
  torch::Tensor class_embedding;                  // [D]
  torch::nn::Embedding position_embedding{nullptr};  // [T, D]
};
TORCH_MODULE(ClipEmbeddings);

struct ClipAttentionImpl : torch::nn::Module {
  explicit ClipAttentionImpl(const VisionConfig& config);
  torch::Tensor forward(const torch::Tensor& x);  // [B, T, D] -> [B, T, D], no mask (full attention)

  int heads, head_dim;
  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};
};
TORCH_MODULE(ClipAttention);

struct ClipMlpImpl : torch::nn::Module {
  explicit ClipMlpImpl(const VisionConfig& config);
  torch::Tensor forward(const torch::Tensor& x);

  bool quick_gelu;
  Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(ClipMlp);

struct ClipEncoderLayerImpl : torch::nn::Module {
  explicit ClipEncoderLayerImpl(const VisionConfig& config);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::LayerNorm layer_norm1{nullptr}, layer_norm2{nullptr};
  ClipAttention self_attn{nullptr};
  ClipMlp mlp{nullptr};
};
TORCH_MODULE(ClipEncoderLayer);

struct ClipEncoderImpl : torch::nn::Module {
  explicit ClipEncoderImpl(const VisionConfig& config);
  torch::nn::ModuleList layers{nullptr};
};
TORCH_MODULE(ClipEncoder);

struct ClipVisionTransformerImpl : torch::nn::Module {
  explicit ClipVisionTransformerImpl(const VisionConfig& config);

  ClipEmbeddings embeddings{nullptr};
  torch::nn::LayerNorm pre_layrnorm{nullptr};  // sic: Hugging Face's spelling
  ClipEncoder encoder{nullptr};
  torch::nn::LayerNorm post_layernorm{nullptr};
};
TORCH_MODULE(ClipVisionTransformer);

// Output of the tower: the hidden states LLaVA needs, and those a caller asked to keep.
struct VisionOutput {
  torch::Tensor features;               // hidden state `feature_layer`, [B, T, D]
  std::vector<torch::Tensor> captured;  // per requested state index, [B, D] (mean over patch tokens)
};

struct ClipVisionModelImpl : torch::nn::Module {
  explicit ClipVisionModelImpl(const VisionConfig& config);

  // Runs only as many layers as `feature_layer` needs (Hugging Face's index into the L + 1 hidden
  // states: entry 0 after pre_layrnorm, entry i after layer i; negative counts from the end).
  // `capture` lists hidden-state indices to return, each averaged over the patch tokens (CLS
  // excluded); capturing a state past `feature_layer` runs the extra layers.
  VisionOutput forward(const torch::Tensor& pixels, int feature_layer, const std::vector<int>& capture = {});

  VisionConfig config;
  ClipVisionTransformer vision_model{nullptr};
};
TORCH_MODULE(ClipVisionModel);

}  // namespace privprobe
