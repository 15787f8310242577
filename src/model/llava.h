// LlavaForConditionalGeneration: vision tower -> projector -> image features replace the image
// tokens in the Llama decoder's input. Module names follow Hugging Face so state dicts match:
//   vision_tower.*, multi_modal_projector.*, language_model.{model.*, lm_head.weight}
// Legend: B batch, T tokens, N images in the batch, P image tokens per image, D width, V vocab,
// L language layers, S number of captured hidden states (L + 1).
#pragma once

#include <vector>

#include <torch/torch.h>

#include "model/clip_vision.h"
#include "model/llama.h"
#include "model/llava_config.h"
#include "model/projector.h"

namespace privprobe {

inline constexpr int64_t kIgnoreIndex = -100;

struct LlavaBatch {
  torch::Tensor input_ids;       // [B, T] int64; every <image> already expanded to P image tokens
  torch::Tensor attention_mask;  // [B, T] int64, 1 for real tokens, 0 for padding
  torch::Tensor pixel_values;    // [N, C, S, S] float, the images of the rows that have image tokens, in row order; may be undefined
  torch::Tensor labels;          // [B, T] int64, kIgnoreIndex where no loss is taken; may be undefined
};

struct ForwardOptions {
  // Gather hidden states: weights [B, T] (each row sums to 1: one-hot for a position, uniform for a
  // mean) applied to every language hidden state; undefined = no capture.
  torch::Tensor capture_weights;
  std::vector<int> vision_capture;   // vision hidden-state indices to return (mean over patches)
  bool logits = false;               // full logits [B, T, V] (costly: off for training)
  bool keep_image_features = false;  // return the selected vision features [N, P, Dv]
};

struct LlavaOutput {
  torch::Tensor loss;            // mean cross-entropy over label tokens (when labels given)
  torch::Tensor token_logprobs;  // [B] sum of log-probabilities of each row's label tokens
  torch::Tensor label_tokens;    // [B] number of label tokens per row
  torch::Tensor logits;          // [B, T, V] when asked
  torch::Tensor states;          // [B, S, D] gathered language hidden states
  torch::Tensor vision_states;   // [N, len(vision_capture), Dv]
  torch::Tensor image_features;  // [N, P, Dv] when asked
};

struct LlavaForConditionalGenerationImpl : torch::nn::Module {
  explicit LlavaForConditionalGenerationImpl(const LlavaConfig& config);

  LlavaOutput forward(const LlavaBatch& batch, const ForwardOptions& options = {});

  // Input embeddings with image features in place of image tokens: [B, T, D].
  torch::Tensor embed(const torch::Tensor& input_ids, const torch::Tensor& pixel_values, torch::Tensor* image_features = nullptr,
                      const std::vector<int>& vision_capture = {}, torch::Tensor* vision_states = nullptr);

  // Greedy decoding with a KV cache. The batch must be left-padded. Stops at eos or after
  // max_new_tokens. Returns the generated ids per row (without the prompt, without eos).
  std::vector<std::vector<int64_t>> generate(const LlavaBatch& batch, int max_new_tokens);

  LlavaConfig config;
  ClipVisionModel vision_tower{nullptr};
  LlavaProjector multi_modal_projector{nullptr};
  LlamaForCausalLm language_model{nullptr};
};
TORCH_MODULE(LlavaForConditionalGeneration);

// Position ids from an attention mask: 0, 1, ... counting only real tokens ([B, T]).
torch::Tensor position_ids_from_mask(const torch::Tensor& attention_mask);

}  // namespace privprobe
