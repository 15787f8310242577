#include "infer/inference.h"

#include <algorithm>

#include "infer/checkpoint_fingerprint.h"
#include "model/device.h"
#include "model/image_processor.h"
#include "model/runtime.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace privprobe {

torch::Dtype parse_model_dtype(const std::string& name) {
  if (name == "f32") return torch::kFloat32;
  if (name == "bf16") return torch::kBFloat16;
  if (name == "f16") return torch::kFloat16;
  throw ConfigError(error_message("--dtype " + name, "unknown dtype", "f32, bf16 or f16"));
}

std::int64_t InferenceModel::pad_id() const {
  std::int64_t pad = tokenizer().pad_id() >= 0 ? tokenizer().pad_id() : checkpoint.config.text.pad_token_id;
  if (pad < 0 || pad == image_token_id() || pad >= checkpoint.config.text.vocab_size) pad = 0;
  return pad == image_token_id() ? 1 : pad;
}

TokenizedInputs InferenceModel::question(const std::string& text, bool with_image, const std::string& answer) const {
  TokenizeOptions options;
  options.image_tokens = checkpoint.config.image_tokens();
  options.image_token_id = static_cast<int>(image_token_id());
  options.add_bos = tokenizer().add_bos_token();
  options.generation_prompt = answer.empty();
  return tokenize_question(tokenizer(), chat, text, answer, with_image, options);
}

TokenizedInputs InferenceModel::conversation(const std::vector<Turn>& turns, const std::string& where) const {
  TokenizeOptions options;
  options.image_tokens = checkpoint.config.image_tokens();
  options.image_token_id = static_cast<int>(image_token_id());
  options.add_bos = tokenizer().add_bos_token();
  options.generation_prompt = true;
  return tokenize_conversation(tokenizer(), chat, turns, options, where);
}

torch::Tensor InferenceModel::image(const fs::path& path) const {
  return load_and_preprocess(path, checkpoint.image_processor);
}

InferenceModel open_inference_model(const fs::path& folder, const InferenceOptions& options) {
  options.validate();
  CheckpointLoadOptions load;
  load.device = parse_device(options.device);
  load.dtype = parse_model_dtype(options.dtype);
  load.template_name = options.template_name;
  configure_threads(options.threads);
  InferenceModel m{load_checkpoint(folder, load), ChatTemplate{}, load.device, load.dtype, checkpoint_fingerprint(folder)};
  m.chat = chat_template(m.checkpoint.config.template_name);
  m.model()->eval();
  return m;
}

LlavaBatch left_padded_batch(const InferenceModel& model, const std::vector<BatchRow>& rows, bool with_labels) {
  std::size_t longest = 0;
  for (const BatchRow& row : rows) longest = std::max(longest, row.tokens->input_ids.size());
  const auto b = static_cast<std::int64_t>(rows.size()), t = static_cast<std::int64_t>(longest);
  auto ids = torch::full({b, t}, model.pad_id(), torch::kInt64);
  auto mask = torch::zeros({b, t}, torch::kInt64);
  auto labels = torch::full({b, t}, kIgnoreIndex, torch::kInt64);
  auto ids_a = ids.accessor<std::int64_t, 2>();
  auto mask_a = mask.accessor<std::int64_t, 2>();
  auto labels_a = labels.accessor<std::int64_t, 2>();
  std::vector<torch::Tensor> images;
  for (std::int64_t r = 0; r < b; ++r) {
    const TokenizedInputs& tokens = *rows[static_cast<std::size_t>(r)].tokens;
    const auto offset = t - static_cast<std::int64_t>(tokens.input_ids.size());
    for (std::size_t j = 0; j < tokens.input_ids.size(); ++j) {
      const auto col = offset + static_cast<std::int64_t>(j);
      ids_a[r][col] = tokens.input_ids[j];
      mask_a[r][col] = 1;
      if (with_labels) labels_a[r][col] = tokens.labels[j];
    }
    const torch::Tensor& image = rows[static_cast<std::size_t>(r)].image;
    if ((tokens.images > 0) != image.defined()) {
      throw DataError(error_message("batch row " + std::to_string(r), tokens.images > 0 ? "the prompt has <image> but no image was given"
                                                                                         : "an image was given but the prompt has no <image>"));
    }
    if (image.defined()) images.push_back(image);
  }
  LlavaBatch batch;
  batch.input_ids = ids.to(model.device);
  batch.attention_mask = mask.to(model.device);
  if (with_labels) batch.labels = labels.to(model.device);
  if (!images.empty()) batch.pixel_values = torch::stack(images).to(model.device, model.dtype);  // [N, 3, S, S]
  return batch;
}

std::vector<std::string> generate_answers(InferenceModel& model, const std::vector<BatchRow>& rows, int max_new_tokens) {
  torch::NoGradGuard no_grad;
  const auto generated = model.model()->generate(left_padded_batch(model, rows), max_new_tokens);
  std::vector<std::string> answers;
  answers.reserve(generated.size());
  for (const auto& ids : generated) answers.push_back(model.tokenizer().decode(std::vector<int>(ids.begin(), ids.end())));
  return answers;
}

std::vector<std::int64_t> answer_tokens(const InferenceModel& model, const std::string& question, bool with_image,
                                        const std::string& answer) {
  const TokenizedInputs full = model.question(question, with_image, answer);
  return {full.input_ids.begin() + static_cast<std::ptrdiff_t>(full.prompt_length), full.input_ids.end()};
}

std::vector<double> score_answers(InferenceModel& model, const std::vector<std::int64_t>& prompt_ids,
                                  const torch::Tensor& image, const std::vector<std::vector<std::int64_t>>& answers,
                                  int chunk_size) {
  torch::NoGradGuard no_grad;
  auto& llava = model.model();
  auto& lm = llava->language_model;
  const auto tp = static_cast<std::int64_t>(prompt_ids.size());
  const auto long_opts = torch::TensorOptions().dtype(torch::kInt64).device(model.device);
  auto ids = torch::tensor(prompt_ids, torch::kInt64).view({1, tp}).to(model.device);
  torch::Tensor pixels;
  if (image.defined()) pixels = image.unsqueeze(0).to(model.device, model.dtype);
  auto embeds = llava->embed(ids, pixels);  // [1, Tp, D]
  auto prompt_mask = torch::ones({1, tp}, long_opts);
  KvCache prefix;
  auto hidden = lm->forward(embeds, position_ids_from_mask(prompt_mask), attention_bias(prompt_mask, tp, embeds.scalar_type()),
                            &prefix);                                                                        // [1, Tp, D]
  auto first = torch::log_softmax(lm->logits(hidden.select(1, tp - 1)).to(torch::kFloat32), -1)[0].to(torch::kCPU);  // [V]

  std::vector<double> scores(answers.size(), 0.0);
  const auto chunk = static_cast<std::size_t>(std::max(1, chunk_size));
  for (std::size_t start = 0; start < answers.size(); start += chunk) {
    const std::size_t end = std::min(answers.size(), start + chunk);
    const auto c = static_cast<std::int64_t>(end - start);
    std::size_t longest = 0;
    for (std::size_t i = start; i < end; ++i) {
      if (answers[i].empty()) throw DataError(error_message("score_answers", "an empty answer has no likelihood"));
      longest = std::max(longest, answers[i].size());
      scores[i] = first[answers[i][0]].item<double>();
    }
    const auto a = static_cast<std::int64_t>(longest);
    if (a == 1) continue;
    // Answers right-padded: row i holds answer tokens, mask 1 where real.
    auto tokens = torch::full({c, a}, model.pad_id(), torch::kInt64);
    auto mask = torch::zeros({c, a}, torch::kInt64);
    for (std::int64_t r = 0; r < c; ++r) {
      const auto& answer = answers[start + static_cast<std::size_t>(r)];
      for (std::size_t j = 0; j < answer.size(); ++j) {
        tokens[r][static_cast<std::int64_t>(j)] = answer[j];
        mask[r][static_cast<std::int64_t>(j)] = 1;
      }
    }
    tokens = tokens.to(model.device);
    mask = mask.to(model.device);
    // Tokens 0..A-2 are read (each predicts the next); the prompt's keys are shared by every row.
    KvCache cache;
    for (std::size_t l = 0; l < prefix.keys.size(); ++l) {
      cache.keys.push_back(prefix.keys[l].expand({c, -1, -1, -1}));    // [C, G, Tp, Hd]
      cache.values.push_back(prefix.values[l].expand({c, -1, -1, -1}));
    }
    auto inputs = tokens.narrow(1, 0, a - 1);                                           // [C, A-1]
    auto key_mask = torch::cat({torch::ones({c, tp}, long_opts), mask.narrow(1, 0, a - 1)}, 1);  // [C, Tp+A-1]
    auto positions = (torch::arange(tp, tp + a - 1, long_opts)).unsqueeze(0).expand({c, a - 1});
    auto h = lm->forward(lm->model->embed_tokens->forward(inputs), positions,
                         attention_bias(key_mask, a - 1, embeds.scalar_type()), &cache);  // [C, A-1, D]
    auto logprobs = torch::log_softmax(lm->logits(h).to(torch::kFloat32), -1);            // [C, A-1, V]
    auto targets = tokens.narrow(1, 1, a - 1);                                           // [C, A-1]
    auto picked = logprobs.gather(2, targets.unsqueeze(-1)).squeeze(-1);                  // [C, A-1]
    auto summed = (picked * mask.narrow(1, 1, a - 1).to(torch::kFloat32)).sum(1).to(torch::kCPU, torch::kFloat64);
    for (std::int64_t r = 0; r < c; ++r) scores[start + static_cast<std::size_t>(r)] += summed[r].item<double>();
  }
  return scores;
}

}  // namespace privprobe
