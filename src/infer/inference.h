// A checkpoint opened for inference and the batches the inference stages (extract, ask, eval)
// feed it: prompts tokenized with the checkpoint's template, left-padded batches (generation needs
// the prompts to end together), and answer scoring that runs a prompt once and shares its keys and
// values among many candidate answers.
// Legend: B rows, T tokens, C candidate answers, A answer tokens, D width.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "data/llava_json.h"
#include "infer/inference_options.h"
#include "model/chat_template.h"
#include "model/checkpoint.h"

namespace privprobe {

torch::Dtype parse_model_dtype(const std::string& name);  // f32 | bf16 | f16; ConfigError

struct InferenceModel {
  LoadedCheckpoint checkpoint;
  ChatTemplate chat;
  torch::Device device{torch::kCPU};
  torch::Dtype dtype = torch::kFloat32;
  std::string fingerprint;  // checkpoint_fingerprint(folder)

  LlavaForConditionalGeneration& model() { return checkpoint.model; }
  const SentencePieceTokenizer& tokenizer() const { return checkpoint.tokenizer; }
  std::int64_t image_token_id() const { return checkpoint.config.image_token_index; }
  // A token id for padding that is never the image token.
  std::int64_t pad_id() const;

  // "USER: <image>\n{question} ASSISTANT:" (with_image) as token ids; with an answer, the answer
  // and end-of-sequence follow, labelled (teacher forcing).
  TokenizedInputs question(const std::string& question, bool with_image, const std::string& answer = {}) const;
  // A conversation up to its last human turn, ending with "ASSISTANT:".
  TokenizedInputs conversation(const std::vector<Turn>& turns, const std::string& where) const;

  // Reads and preprocesses an image: [3, S, S] float32 on the CPU.
  torch::Tensor image(const std::filesystem::path& path) const;
};

// Loads the checkpoint (IoError "not a checkpoint" naming the folder), sets threads, no-grad eval mode.
InferenceModel open_inference_model(const std::filesystem::path& folder, const InferenceOptions& options);

// A hash of what identifies a checkpoint without reading every weight: config.json, privprobe.json,
// the tokenizer files, and each weights file's name, size and safetensors header.
std::string checkpoint_fingerprint(const std::filesystem::path& folder);

// One row of a batch: its tokens (labels optional) and its image (undefined: text only).
struct BatchRow {
  const TokenizedInputs* tokens = nullptr;
  torch::Tensor image;  // [3, S, S]
};

// Rows padded on the left to the longest; labels kIgnoreIndex on padding when any row has labels.
// Tensors on the model's device, pixels in its dtype.
LlavaBatch left_padded_batch(const InferenceModel& model, const std::vector<BatchRow>& rows, bool with_labels = false);

// Greedy answers (decoded text) for rows that end with "ASSISTANT:".
std::vector<std::string> generate_answers(InferenceModel& model, const std::vector<BatchRow>& rows, int max_new_tokens);

// Sum of log-probabilities of each answer (token ids, end-of-sequence included) after one prompt
// (token ids ending with "ASSISTANT:", image optional). The prompt runs once; the answers run in
// chunks of chunk_size rows on copies of its keys and values. Equal, up to rounding, to the
// token_logprobs of a full forward with the answer as labels.
std::vector<double> score_answers(InferenceModel& model, const std::vector<std::int64_t>& prompt_ids,
                                  const torch::Tensor& image, const std::vector<std::vector<std::int64_t>>& answers,
                                  int chunk_size);

// The answer's token ids as they follow the prompt (end-of-sequence included).
std::vector<std::int64_t> answer_tokens(const InferenceModel& model, const std::string& question, bool with_image,
                                        const std::string& answer);

}  // namespace privprobe
