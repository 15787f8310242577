#include "model/llama.h"

#include <cmath>

#include "model/gradient_checkpointing.h"
#include "model/parameter_init.h"

namespace privprobe {

namespace nn = torch::nn;

RmsNormImpl::RmsNormImpl(int dim, double eps_) : eps(eps_) { weight = register_parameter("weight", torch::ones({dim})); }

torch::Tensor RmsNormImpl::forward(const torch::Tensor& x) {
  auto h = x.to(torch::kFloat32);
  h = h * torch::rsqrt(h.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * h.to(x.scalar_type());
}

std::pair<torch::Tensor, torch::Tensor> rotary_tables(const torch::Tensor& position_ids, int head_dim, double theta,
                                                      torch::Dtype dtype) {
  auto options = torch::TensorOptions().dtype(torch::kFloat32).device(position_ids.device());
  auto inv_freq = 1.0 / torch::pow(theta, torch::arange(0, head_dim, 2, options) / static_cast<double>(head_dim));  // [Hd/2]
  auto freqs = position_ids.to(torch::kFloat32).unsqueeze(-1) * inv_freq;  // [B, T, Hd/2]
  auto emb = torch::cat({freqs, freqs}, -1).unsqueeze(1);                  // [B, 1, T, Hd]
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const auto half = x.size(-1) / 2;
  auto rotated = torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * cos + rotated * sin;
}

torch::Tensor attention_bias(const torch::Tensor& key_mask, int64_t new_tokens, torch::Dtype dtype) {
  const auto keys = key_mask.size(1);
  const auto past = keys - new_tokens;
  auto options = torch::TensorOptions().dtype(torch::kInt64).device(key_mask.device());
  auto q_pos = torch::arange(past, keys, options).view({-1, 1});            // [T, 1]
  auto k_pos = torch::arange(0, keys, options).view({1, -1});               // [1, K]
  auto allowed = (k_pos <= q_pos).unsqueeze(0) & key_mask.to(torch::kBool).unsqueeze(1);  // [B, T, K]
  // A large finite negative rather than -inf: a fully masked row (a left-padding query) then
  // gives a uniform, finite softmax instead of NaN; its output is never used.
  auto bias = torch::zeros(allowed.sizes(), torch::TensorOptions().dtype(dtype).device(key_mask.device()));
  bias.masked_fill_(allowed.logical_not(), dtype == torch::kFloat32 ? -1e9 : -1e4);
  return bias.unsqueeze(1);  // [B, 1, T, K]
}

LlamaAttentionImpl::LlamaAttentionImpl(const TextConfig& c)
    : heads(c.num_attention_heads), kv_heads(c.num_key_value_heads), head_dim(c.head_dim) {
  const int d = c.hidden_size;
  q_proj = register_module("q_proj", Linear(d, heads * head_dim, c.attention_bias));
  k_proj = register_module("k_proj", Linear(d, kv_heads * head_dim, c.attention_bias));
  v_proj = register_module("v_proj", Linear(d, kv_heads * head_dim, c.attention_bias));
  o_proj = register_module("o_proj", Linear(heads * head_dim, d, c.attention_bias));
}

torch::Tensor LlamaAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                          const torch::Tensor& bias, torch::Tensor* past_k, torch::Tensor* past_v) {
  const auto b = x.size(0), t = x.size(1);
  auto q = q_proj->forward(x).view({b, t, heads, head_dim}).transpose(1, 2);     // [B, H, T, Hd]
  auto k = k_proj->forward(x).view({b, t, kv_heads, head_dim}).transpose(1, 2);  // [B, G, T, Hd]
  auto v = v_proj->forward(x).view({b, t, kv_heads, head_dim}).transpose(1, 2);  // [B, G, T, Hd]
  q = apply_rotary(q, cos, sin);
  k = apply_rotary(k, cos, sin);
  if (past_k) {
    if (past_k->defined()) {
      k = torch::cat({*past_k, k}, 2);  // [B, G, K, Hd]
      v = torch::cat({*past_v, v}, 2);
    }
    *past_k = k;
    *past_v = v;
  }
  if (kv_heads != heads) {  // grouped-query attention: each key/value head serves H/G query heads
    k = k.repeat_interleave(heads / kv_heads, 1);  // [B, H, K, Hd]
    v = v.repeat_interleave(heads / kv_heads, 1);
  }
  auto scores = torch::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(head_dim)));  // [B, H, T, K]
  if (bias.defined()) scores = scores + bias;
  auto weights = torch::softmax(scores, -1, torch::kFloat32).to(q.scalar_type());
  auto out = torch::matmul(weights, v).transpose(1, 2).reshape({b, t, heads * head_dim});  // [B, T, H*Hd]
  return o_proj->forward(out);
}

LlamaMlpImpl::LlamaMlpImpl(const TextConfig& c) {
  gate_proj = register_module("gate_proj", Linear(c.hidden_size, c.intermediate_size, c.mlp_bias));
  up_proj = register_module("up_proj", Linear(c.hidden_size, c.intermediate_size, c.mlp_bias));
  down_proj = register_module("down_proj", Linear(c.intermediate_size, c.hidden_size, c.mlp_bias));
}

torch::Tensor LlamaMlpImpl::forward(const torch::Tensor& x) {
  return down_proj->forward(torch::silu(gate_proj->forward(x)) * up_proj->forward(x));
}

LlamaDecoderLayerImpl::LlamaDecoderLayerImpl(const TextConfig& c) {
  self_attn = register_module("self_attn", LlamaAttention(c));
  mlp = register_module("mlp", LlamaMlp(c));
  input_layernorm = register_module("input_layernorm", RmsNorm(c.hidden_size, c.rms_norm_eps));
  post_attention_layernorm = register_module("post_attention_layernorm", RmsNorm(c.hidden_size, c.rms_norm_eps));
}

torch::Tensor LlamaDecoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                             const torch::Tensor& bias, torch::Tensor* past_k, torch::Tensor* past_v) {
  auto h = x + self_attn->forward(input_layernorm->forward(x), cos, sin, bias, past_k, past_v);
  return h + mlp->forward(post_attention_layernorm->forward(h));
}

LlamaModelImpl::LlamaModelImpl(const TextConfig& c) {
  embed_tokens = register_module("embed_tokens", nn::Embedding(embedding_options(c.vocab_size, c.hidden_size)));
  if (parameter_init_enabled()) nn::init::normal_(embed_tokens->weight, 0.0, 0.02);
  layers = register_module("layers", nn::ModuleList());
  for (int i = 0; i < c.num_hidden_layers; ++i) layers->push_back(LlamaDecoderLayer(c));
  norm = register_module("norm", RmsNorm(c.hidden_size, c.rms_norm_eps));
}

LlamaForCausalLmImpl::LlamaForCausalLmImpl(const TextConfig& c) : config(c) {
  model = register_module("model", LlamaModel(c));
  if (!c.tie_word_embeddings) {
    lm_head = register_module("lm_head", Linear(c.hidden_size, c.vocab_size, false));
    if (parameter_init_enabled()) nn::init::normal_(lm_head->weight, 0.0, 0.02);
  }
  if (!parameter_init_enabled()) return;
  // Hugging Face initialises every Linear with N(0, 0.02) and zero bias.
  for (auto& module : model->modules(/*include_self=*/false)) {
    if (auto* linear = module->as<LinearImpl>()) {
      nn::init::normal_(linear->weight, 0.0, 0.02);
      if (linear->bias.defined()) nn::init::zeros_(linear->bias);
    }
  }
}

const torch::Tensor& LlamaForCausalLmImpl::lm_head_weight() const {
  return lm_head ? lm_head->weight : model->embed_tokens->weight;
}

torch::Tensor LlamaForCausalLmImpl::logits(const torch::Tensor& hidden) {
  return torch::matmul(hidden, lm_head_weight().t());
}

torch::Tensor LlamaForCausalLmImpl::forward(const torch::Tensor& embeds, const torch::Tensor& position_ids,
                                            const torch::Tensor& bias, KvCache* cache, const HiddenStateHook& hook) {
  const int n_layers = config.num_hidden_layers;
  auto [cos, sin] = rotary_tables(position_ids, config.head_dim, config.rope_theta, embeds.scalar_type());
  if (cache && cache->keys.empty()) {
    cache->keys.resize(static_cast<std::size_t>(n_layers));
    cache->values.resize(static_cast<std::size_t>(n_layers));
  }
  auto h = embeds;
  if (hook) hook(0, h);
  const bool recompute = gradient_checkpointing && is_training() && torch::GradMode::is_enabled() && cache == nullptr;
  for (int i = 0; i < n_layers; ++i) {
    const auto li = static_cast<std::size_t>(i);
    auto layer = model->layers->ptr<LlamaDecoderLayerImpl>(li);
    if (recompute) {
      std::vector<torch::Tensor> trainable;
      for (const auto& p : layer->parameters()) {
        if (p.requires_grad()) trainable.push_back(p);
      }
      // cos, sin and bias come from positions and the mask: they never need gradients.
      h = checkpointed_forward([layer, cos = cos, sin = sin, bias](const torch::Tensor& x) {
            return layer->forward(x, cos, sin, bias, nullptr, nullptr);
          }, h, trainable);
    } else {
      h = layer->forward(h, cos, sin, bias, cache ? &cache->keys[li] : nullptr, cache ? &cache->values[li] : nullptr);
    }
    if (hook && i + 1 < n_layers) hook(i + 1, h);
  }
  h = model->norm->forward(h);
  if (hook) hook(n_layers, h);
  return h;
}

}  // namespace privprobe
