#include "model/clip_vision.h"

#include <algorithm>
#include <cmath>

#include "model/parameter_init.h"

namespace privprobe {

namespace nn = torch::nn;

ClipEmbeddingsImpl::ClipEmbeddingsImpl(const VisionConfig& c) {
  const bool init = parameter_init_enabled();
  // Registered only when configured, so CLIP checkpoints keep exactly their parameter names.
  int channels = c.num_channels;
  if (!c.conv_stem.empty()) {
    conv_stem = register_module("conv_stem", nn::ModuleList());
    for (int out : c.conv_stem) {
      nn::Conv2d conv(nn::Conv2dOptions(channels, out, 3).stride(2).padding(1).bias(true));
      if (init) nn::init::zeros_(conv->bias);  // weights keep libtorch's Kaiming-uniform default
      conv_stem->push_back(conv);
      channels = out;
    }
  }
  const int patch = c.patch_size >> c.conv_stem.size();  // each stem convolution halves the side
  patch_embedding = register_module(
      "patch_embedding", nn::Conv2d(nn::Conv2dOptions(channels, c.hidden_size, patch).stride(patch).bias(false)));
  class_embedding = register_parameter(
      "class_embedding", init ? torch::randn({c.hidden_size}) * std::pow(c.hidden_size, -0.5) : torch::empty({c.hidden_size}));
  position_embedding = register_module("position_embedding", nn::Embedding(embedding_options(c.num_patches() + 1, c.hidden_size)));
  if (!init) return;
  nn::init::normal_(position_embedding->weight, 0.0, 0.02);
  nn::init::normal_(patch_embedding->weight, 0.0, 0.02);
}

torch::Tensor ClipEmbeddingsImpl::forward(const torch::Tensor& pixels) {
  const auto batch = pixels.size(0);
  auto h = pixels.to(patch_embedding->weight.dtype());  // [B, C, S, S]
  if (conv_stem) {
    for (const auto& conv : *conv_stem) h = torch::gelu(conv->as<nn::Conv2d>()->forward(h));  // [B, C_i, S/2^i, S/2^i]
  }
  auto patches = patch_embedding->forward(h);                                              // [B, D, S/p, S/p]
  patches = patches.flatten(2).transpose(1, 2);                                            // [B, P, D]
  auto cls = class_embedding.view({1, 1, -1}).expand({batch, 1, class_embedding.size(0)});  // [B, 1, D]
  auto x = torch::cat({cls, patches}, 1);                                                   // [B, T, D]
  return x + position_embedding->weight.unsqueeze(0);
}

ClipAttentionImpl::ClipAttentionImpl(const VisionConfig& c) : heads(c.num_attention_heads), head_dim(c.head_dim()) {
  const int d = c.hidden_size;
  q_proj = register_module("q_proj", Linear(d, d));
  k_proj = register_module("k_proj", Linear(d, d));
  v_proj = register_module("v_proj", Linear(d, d));
  out_proj = register_module("out_proj", Linear(d, d));
}

torch::Tensor ClipAttentionImpl::forward(const torch::Tensor& x) {
  const auto b = x.size(0), t = x.size(1);
  auto split = [&](const torch::Tensor& y) { return y.view({b, t, heads, head_dim}).transpose(1, 2); };  // [B, H, T, Hd]
  auto q = split(q_proj->forward(x)) * (1.0 / std::sqrt(static_cast<double>(head_dim)));
  auto k = split(k_proj->forward(x));
  auto v = split(v_proj->forward(x));
  auto weights = torch::softmax(torch::matmul(q, k.transpose(-2, -1)), -1);  // [B, H, T, T]
  auto out = torch::matmul(weights, v).transpose(1, 2).reshape({b, t, heads * head_dim});  // [B, T, D]
  return out_proj->forward(out);
}

ClipMlpImpl::ClipMlpImpl(const VisionConfig& c) : quick_gelu(c.hidden_act == "quick_gelu") {
  fc1 = register_module("fc1", Linear(c.hidden_size, c.intermediate_size));
  fc2 = register_module("fc2", Linear(c.intermediate_size, c.hidden_size));
}

torch::Tensor ClipMlpImpl::forward(const torch::Tensor& x) {
  auto h = fc1->forward(x);
  h = quick_gelu ? h * torch::sigmoid(1.702 * h) : torch::gelu(h);
  return fc2->forward(h);
}

ClipEncoderLayerImpl::ClipEncoderLayerImpl(const VisionConfig& c) {
  auto ln = [&] { return nn::LayerNorm(nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)); };
  self_attn = register_module("self_attn", ClipAttention(c));
  layer_norm1 = register_module("layer_norm1", ln());
  mlp = register_module("mlp", ClipMlp(c));
  layer_norm2 = register_module("layer_norm2", ln());
}

torch::Tensor ClipEncoderLayerImpl::forward(const torch::Tensor& x) {
  auto h = x + self_attn->forward(layer_norm1->forward(x));
  return h + mlp->forward(layer_norm2->forward(h));
}

ClipEncoderImpl::ClipEncoderImpl(const VisionConfig& c) {
  layers = register_module("layers", nn::ModuleList());
  for (int i = 0; i < c.num_hidden_layers; ++i) layers->push_back(ClipEncoderLayer(c));
}

ClipVisionTransformerImpl::ClipVisionTransformerImpl(const VisionConfig& c) {
  auto ln = [&] { return nn::LayerNorm(nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)); };
  embeddings = register_module("embeddings", ClipEmbeddings(c));
  pre_layrnorm = register_module("pre_layrnorm", ln());
  encoder = register_module("encoder", ClipEncoder(c));
  post_layernorm = register_module("post_layernorm", ln());
}

ClipVisionModelImpl::ClipVisionModelImpl(const VisionConfig& c) : config(c) {
  vision_model = register_module("vision_model", ClipVisionTransformer(c));
}

VisionOutput ClipVisionModelImpl::forward(const torch::Tensor& pixels, int feature_layer, const std::vector<int>& capture) {
  const int n_states = config.num_hidden_layers + 1;
  auto absolute = [&](int index) { return index < 0 ? index + n_states : index; };
  const int feature_index = absolute(feature_layer);
  int last_needed = feature_index;
  for (int c : capture) last_needed = std::max(last_needed, absolute(c));

  VisionOutput out;
  out.captured.resize(capture.size());
  auto keep = [&](int state_index, const torch::Tensor& h) {
    if (state_index == feature_index) out.features = h;
    for (std::size_t i = 0; i < capture.size(); ++i) {
      if (absolute(capture[i]) == state_index) out.captured[i] = h.narrow(1, 1, h.size(1) - 1).mean(1);  // [B, D]
    }
  };
  auto h = vision_model->pre_layrnorm->forward(vision_model->embeddings->forward(pixels));  // [B, T, D]
  keep(0, h);
  auto& layers = *vision_model->encoder->layers;
  for (int i = 0; i < last_needed; ++i) {
    h = layers[static_cast<std::size_t>(i)]->as<ClipEncoderLayer>()->forward(h);
    keep(i + 1, h);
  }
  return out;
}

}  // namespace privprobe
