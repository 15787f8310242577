// Llama decoder (LlamaForCausalLM), as LLaVA's language model. Parameter names follow Hugging Face:
//   model.embed_tokens.weight
//   model.layers.N.{input_layernorm, self_attn.{q,k,v,o}_proj, post_attention_layernorm, mlp.{gate,up,down}_proj}
//   model.norm.weight
//   lm_head.weight            (absent when the embeddings are tied)
// Legend: B batch, T query tokens, K key tokens (past + new), D width, H heads, G key/value heads,
// Hd head dim, F MLP width, V vocabulary.
#pragma once

#include <functional>
#include <vector>

#include <torch/torch.h>

#include "model/linear.h"
#include "model/llava_config.h"

namespace privprobe {

struct RmsNormImpl : torch::nn::Module {
  RmsNormImpl(int dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);  // computed in float32, as Hugging Face
  torch::Tensor weight;
  double eps;
};
TORCH_MODULE(RmsNorm);

// cos and sin tables for rotary embeddings at the given positions: [B, 1, T, Hd] each.
std::pair<torch::Tensor, torch::Tensor> rotary_tables(const torch::Tensor& position_ids, int head_dim, double theta,
                                                      torch::Dtype dtype);
// x * cos + rotate_half(x) * sin, x [B, H, T, Hd].
torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

// Per-layer keys and values of earlier tokens, for generation.
struct KvCache {
  std::vector<torch::Tensor> keys, values;  // per layer [B, G, K, Hd]
  int64_t length() const { return keys.empty() || !keys[0].defined() ? 0 : keys[0].size(2); }
};

struct LlamaAttentionImpl : torch::nn::Module {
  explicit LlamaAttentionImpl(const TextConfig& config);
  // bias: additive attention bias [B or 1, 1, T, K] (0 or a large negative number).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& bias, torch::Tensor* past_k, torch::Tensor* past_v);

  int heads, kv_heads, head_dim;
  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
};
TORCH_MODULE(LlamaAttention);

struct LlamaMlpImpl : torch::nn::Module {
  explicit LlamaMlpImpl(const TextConfig& config);
  torch::Tensor forward(const torch::Tensor& x);  // down(silu(gate(x)) * up(x))
  Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(LlamaMlp);

struct LlamaDecoderLayerImpl : torch::nn::Module {
  explicit LlamaDecoderLayerImpl(const TextConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& bias, torch::Tensor* past_k, torch::Tensor* past_v);

  LlamaAttention self_attn{nullptr};
  LlamaMlp mlp{nullptr};
  RmsNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};
TORCH_MODULE(LlamaDecoderLayer);

struct LlamaModelImpl : torch::nn::Module {
  explicit LlamaModelImpl(const TextConfig& config);
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RmsNorm norm{nullptr};
};
TORCH_MODULE(LlamaModel);

// Called for each hidden state as Hugging Face's output_hidden_states numbers them: 0 the input
// embeddings, i the output of layer i for i < L, and L after the final norm. [B, T, D].
using HiddenStateHook = std::function<void(int index, const torch::Tensor& hidden)>;

struct LlamaForCausalLmImpl : torch::nn::Module {
  explicit LlamaForCausalLmImpl(const TextConfig& config);

  // Runs the decoder on input embeddings [B, T, D] and returns the final normed hidden states
  // [B, T, D]. position_ids [B, T] (int64); bias as in LlamaAttention; cache, if given, holds the
  // past and is extended with this call's keys and values.
  torch::Tensor forward(const torch::Tensor& embeds, const torch::Tensor& position_ids, const torch::Tensor& bias,
                        KvCache* cache = nullptr, const HiddenStateHook& hook = {});

  // hidden [.., D] -> logits [.., V], through lm_head or the tied embeddings.
  torch::Tensor logits(const torch::Tensor& hidden);
  const torch::Tensor& lm_head_weight() const;

  TextConfig config;
  LlamaModel model{nullptr};
  Linear lm_head{nullptr};  // null when tied
  // In training with gradients on: decoder layers keep no activations and rerun in backward
  // (model/gradient_checkpointing.h). Off by default; results are the same either way.
  bool gradient_checkpointing = false;
};
TORCH_MODULE(LlamaForCausalLm);

// Additive attention bias [B, 1, T, K] for T new tokens after `past` cached ones: causal, and
// key positions where key_mask [B, K] is 0 (padding) are blocked.
torch::Tensor attention_bias(const torch::Tensor& key_mask, int64_t new_tokens, torch::Dtype dtype);

}  // namespace privprobe
