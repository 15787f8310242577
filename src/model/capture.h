// What is captured from a forward pass, named once (TransformerLens style). Hidden states follow
// Hugging Face's output_hidden_states numbering, not the weights' layers.N (off by one):
//   language_model.hidden_states.0      input embeddings (image features merged in)
//   language_model.hidden_states.i      output of decoder layer i (1 <= i < L)
//   language_model.hidden_states.L      output of the last layer after the final norm
//   vision_tower.hidden_states.0        after pre_layrnorm;  .i after encoder layer i
// Each state [B, T, D] is reduced to one vector per sample by a position rule, so full states of
// every layer are never kept at once.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

namespace privprobe {

inline std::string language_state_name(int index) { return "language_model.hidden_states." + std::to_string(index); }
inline std::string vision_state_name(int index) { return "vision_tower.hidden_states." + std::to_string(index); }

// Where in the sequence a state is read.
struct CapturePosition {
  enum class Kind { kLast, kImageMean, kAllMean, kIndex } kind = Kind::kLast;
  int index = 0;  // for kIndex: a token index into the unpadded sequence; negative counts from the end

  // "last" | "image-mean" | "all-mean" | "index:K". Throws ConfigError.
  static CapturePosition parse(const std::string& text);
  std::string to_string() const;
};

// Weights [B, T] (rows sum to 1) that pick or average positions of a left- or right-padded batch.
// `prompt_lengths[b]` is the number of real tokens of row b that belong to the prompt (kLast
// reads the last of them); real tokens are where attention_mask is 1. Throws DataError when a
// row has no image tokens for kImageMean or the index is out of range.
torch::Tensor capture_weights(const CapturePosition& position, const torch::Tensor& input_ids,
                              const torch::Tensor& attention_mask, const std::vector<int64_t>& prompt_lengths,
                              int64_t image_token_id);

}  // namespace privprobe
