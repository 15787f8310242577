#include "infer/eval.h"

#include <chrono>
#include <map>

#include <nlohmann/json.hpp>

#include "data/llava_json.h"
#include "infer/inference.h"
#include "util/error.h"
#include "util/json_io.h"
#include "util/log.h"
#include "util/paths.h"
#include "util/progress.h"
#include "util/sha256.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace privprobe {
namespace {

std::string path_string(const fs::path& p) { return fs::absolute(p).lexically_normal().generic_string(); }

// One question with its reference answer.
struct EvalItem {
  std::size_t sample = 0;
  std::size_t turn = 0;          // 0-based question number within the sample
  std::vector<Turn> turns;       // the conversation up to and including the reference answer
  std::string question;
  std::string reference;
  fs::path image;                // empty: text only
};

std::vector<EvalItem> gather_items(const EvalConfig& config, const std::vector<LlavaSample>& samples) {
  std::vector<EvalItem> items;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const LlavaSample& sample = samples[i];
    const std::string where = config.data.string() + ", sample " + std::to_string(i) + " (id '" + sample.id + "')";
    fs::path image;
    if (sample.image) {
      image = resolve_under(config.image_root, *sample.image, where);
      std::error_code ec;
      if (!fs::is_regular_file(image, ec)) throw IoError(error_message(image.string(), "image not found", "referenced by " + where));
    }
    const auto& turns = sample.conversations;
    for (std::size_t k = 0; k + 1 < turns.size(); k += 2) {
      if (turns[k].from != "human" || turns[k + 1].from != "gpt") {
        throw DataError(error_message(where, "turns must alternate human, gpt (turn " + std::to_string(k + 1) + ")"));
      }
      items.push_back({i, k / 2, std::vector<Turn>(turns.begin(), turns.begin() + static_cast<std::ptrdiff_t>(k + 2)),
                       turns[k].value, turns[k + 1].value, image});
      if (config.count > 0 && items.size() == config.count) return items;
    }
  }
  return items;
}

json accuracy_json(std::size_t correct, std::size_t total) {
  return {{"accuracy", total > 0 ? static_cast<double>(correct) / static_cast<double>(total) : 0.0},
          {"correct", correct},
          {"total", total}};
}

}  // namespace

void EvalConfig::validate() const {
  if (model.empty()) throw ConfigError(error_message("eval", "--model is required"));
  if (data.empty()) throw ConfigError(error_message("eval", "--data is required"));
  if (image_root.empty()) throw ConfigError(error_message("eval", "--image-root is required"));
  if (out.empty()) throw ConfigError(error_message("eval", "--out is required"));
  if (batch_size < 1) throw ConfigError(error_message("--batch-size", "must be at least 1"));
  if (max_new_tokens < 1) throw ConfigError(error_message("--max-new-tokens", "must be at least 1"));
  require_file(data, "data file (--data)");
  require_folder(image_root, "image root (--image-root)");
  inference.validate();
}

EvalResult run_eval(const EvalConfig& config) {
  config.validate();
  const auto start = std::chrono::steady_clock::now();
  const std::vector<LlavaSample> samples = load_llava_json(config.data);
  const std::vector<EvalItem> items = gather_items(config, samples);
  if (items.empty()) throw DataError(error_message(config.data.string(), "no question with a reference answer to evaluate"));

  InferenceModel m = open_inference_model(config.model, config.inference);
  std::vector<std::string> predictions(items.size());
  torch::NoGradGuard no_grad;
  Progress progress("eval", items.size());
  for (std::size_t first = 0; first < items.size(); first += static_cast<std::size_t>(config.batch_size)) {
    const std::size_t last = std::min(items.size(), first + static_cast<std::size_t>(config.batch_size));
    std::vector<TokenizedInputs> tokens;
    tokens.reserve(last - first);
    for (std::size_t i = first; i < last; ++i) {
      const EvalItem& item = items[i];
      tokens.push_back(m.conversation(item.turns, config.data.string() + ", sample " + std::to_string(item.sample)));
    }
    std::vector<BatchRow> rows;
    for (std::size_t i = first; i < last; ++i) {
      const TokenizedInputs& t = tokens[i - first];
      if (t.images > 0 && items[i].image.empty()) {
        throw DataError(error_message(config.data.string() + ", sample " + std::to_string(items[i].sample),
                                      "the question has <image> but the sample has no image"));
      }
      rows.push_back({&t, t.images > 0 ? m.image(items[i].image) : torch::Tensor()});
    }
    const std::vector<std::string> answers = generate_answers(m, rows, config.max_new_tokens);
    for (std::size_t i = first; i < last; ++i) predictions[i] = answers[i - first];
    progress.tick(last - first);
  }
  progress.finish();

  EvalResult result;
  result.items = items.size();
  std::map<std::string, std::pair<std::size_t, std::size_t>> per_type;  // type -> (correct, total)
  json records = json::array();
  for (std::size_t i = 0; i < items.size(); ++i) {
    const EvalItem& item = items[i];
    const bool correct = normalize_vqa_answer(predictions[i]) == normalize_vqa_answer(item.reference);
    const std::string type = vqa_question_type(item.question);
    result.correct += correct;
    auto& counts = per_type[type];
    counts.first += correct;
    ++counts.second;
    records.push_back({{"id", samples[item.sample].id},
                       {"turn", item.turn},
                       {"type", type},
                       {"question", item.question},
                       {"answer", item.reference},
                       {"prediction", predictions[i]},
                       {"correct", correct}});
  }
  result.accuracy = static_cast<double>(result.correct) / static_cast<double>(result.items);
  json types = json::object();
  for (const auto& [type, counts] : per_type) types[type] = accuracy_json(counts.first, counts.second);

  json doc = accuracy_json(result.correct, result.items);
  doc.update({{"format_version", kFormatVersion},
              {"checkpoint", path_string(config.model)},
              {"checkpoint_fingerprint", m.fingerprint},
              {"data", path_string(config.data)},
              {"data_sha256", sha256_file(config.data)},
              {"image_root", path_string(config.image_root)},
              {"template", m.chat.name},
              {"dtype", config.inference.dtype},
              {"max_new_tokens", config.max_new_tokens},
              {"normalisation", "lower case, punctuation removed, articles a/an/the removed, whitespace collapsed; exact match"},
              {"per_type", types},
              {"samples", records}});
  write_json_atomic(config.out / "eval.json", doc);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  write_json_atomic(config.out / "eval_timing.json", {{"format_version", kFormatVersion},
                                                      {"seconds", seconds},
                                                      {"items", result.items},
                                                      {"device", config.inference.device},
                                                      {"threads", config.inference.threads}});
  spdlog::info("eval: {} of {} correct ({:.3f}) in {:.2f} s", result.correct, result.items, result.accuracy, seconds);
  return result;
}

}  // namespace privprobe
