#include "infer/extract.h"

#include <chrono>

#include <nlohmann/json.hpp>

#include "infer/inference.h"
#include "io/safetensors_writer.h"
#include "model/capture.h"
#include "probeset/activation_file.h"
#include "probeset/probeset.h"
#include "util/error.h"
#include "util/json_io.h"
#include "util/log.h"
#include "util/progress.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace privprobe {
namespace {

std::string path_string(const fs::path& p) { return fs::absolute(p).lexically_normal().generic_string(); }

json profile_list(const std::vector<ProbeProfile>& profiles) {
  json list = json::array();
  for (const ProbeProfile& p : profiles) list.push_back({{"id", p.id}, {"username", p.username}});
  return list;
}

std::vector<std::string> state_names(int count, bool vision) {
  std::vector<std::string> names;
  for (int i = 0; i < count; ++i) names.push_back(vision ? vision_state_name(i) : language_state_name(i));
  return names;
}

template <typename T>
void append_tensor(SafetensorsStreamWriter& writer, const char* name, const torch::Tensor& tensor) {
  const auto contiguous = tensor.contiguous();
  writer.append(name, contiguous.data_ptr<T>(), static_cast<std::size_t>(contiguous.numel()) * sizeof(T));
}

}  // namespace

void ExtractConfig::validate() const {
  if (model.empty()) throw ConfigError(error_message("extract", "--model is required"));
  if (probeset.empty()) throw ConfigError(error_message("extract", "--probeset is required"));
  if (out.empty()) throw ConfigError(error_message("extract", "--out is required"));
  if (out.extension() == ".json") {
    throw ConfigError(error_message(out.string(), "--out names the activations; the metadata goes beside it as .json",
                                    "use a name ending in .safetensors"));
  }
  if (batch_size < 1) throw ConfigError(error_message("--batch-size", "must be at least 1"));
  CapturePosition::parse(position);
  ShardSpec::parse(shard);
  inference.validate();
}

ExtractResult run_extract(const ExtractConfig& config) {
  config.validate();
  const auto start = std::chrono::steady_clock::now();
  const ProbeSet set = load_probeset(config.probeset);
  const auto total = static_cast<std::int64_t>(set.samples.size());
  const ShardSpec shard = ShardSpec::parse(config.shard);
  const SampleRange range = shard_range(shard, total, config.batch_size);
  const CapturePosition position = CapturePosition::parse(config.position);

  InferenceModel m = open_inference_model(config.model, config.inference);
  const LlavaConfig& mc = m.checkpoint.config;
  const int states = mc.text.num_hidden_layers + 1, dim = mc.text.hidden_size;
  const int vision_states = mc.vision.num_hidden_layers + 1, vision_dim = mc.vision.hidden_size;
  const std::int64_t n = range.size();

  std::vector<TensorSpec> specs = {{"states", Dtype::F32, {n, states, dim}},
                                   {"labels", Dtype::I64, {n}},
                                   {"groups", Dtype::I64, {n}},
                                   {"profiles", Dtype::I64, {n}}};
  if (config.vision) specs.push_back({"vision_states", Dtype::F32, {n, vision_states, vision_dim}});
  SafetensorsStreamWriter writer(config.out, specs);
  std::vector<std::int64_t> labels, groups, profiles;
  for (std::int64_t i = range.begin; i < range.end; ++i) {
    const ProbeSample& s = set.samples[static_cast<std::size_t>(i)];
    labels.push_back(s.label);
    groups.push_back(s.group);
    profiles.push_back(s.profile_index);
  }
  writer.append("labels", labels.data(), labels.size() * sizeof(std::int64_t));
  writer.append("groups", groups.data(), groups.size() * sizeof(std::int64_t));
  writer.append("profiles", profiles.data(), profiles.size() * sizeof(std::int64_t));

  json header = {{"format_version", kFormatVersion},
                 {"checkpoint", path_string(config.model)},
                 {"checkpoint_fingerprint", m.fingerprint},
                 {"probeset", path_string(config.probeset)},
                 {"probeset_sha256", set.sha256},
                 {"samples_total", total},
                 {"question", set.question},
                 {"template", m.chat.name},
                 {"position", position.to_string()},
                 {"dtype", config.inference.dtype},
                 {"batch_size", config.batch_size},
                 {"vision", config.vision},
                 {"image_tokens", mc.image_tokens()},
                 {"states", {{"shape", {states, dim}}, {"names", state_names(states, false)}}},
                 {"vision_states", config.vision ? json{{"shape", {vision_states, vision_dim}},
                                                        {"names", state_names(vision_states, true)},
                                                        {"reduction", "mean over patch tokens (CLS excluded)"}}
                                                  : json(nullptr)},
                 {"labels", "1 seen (U1), 0 unseen (U2)"},
                 {"groups", "base image index of the probe set"},
                 {"profile_numbering", "profiles[i] < len(profile_lists.seen): profile_lists.seen[profiles[i]]; "
                                       "otherwise profile_lists.unseen[profiles[i] - len(profile_lists.seen)]"},
                 {"profile_lists", {{"seen", profile_list(set.seen)}, {"unseen", profile_list(set.unseen)}}}};
  if (shard.active()) {
    header["shard"] = {{"index", shard.index}, {"count", shard.count}, {"begin", range.begin}, {"end", range.end}};
  }
  ActivationMetadataWriter metadata(activation_metadata_path(config.out), header);

  // Every sample reads the same question, so one tokenization serves all.
  const TokenizedInputs prompt = m.question(set.question, true);
  std::vector<int> vision_capture;
  if (config.vision) {
    for (int i = 0; i < vision_states; ++i) vision_capture.push_back(i);
  }
  torch::NoGradGuard no_grad;
  Progress progress("extract", static_cast<std::uint64_t>(n));
  for (std::int64_t first = range.begin; first < range.end; first += config.batch_size) {
    const std::int64_t last = std::min(range.end, first + config.batch_size);
    std::vector<BatchRow> rows;
    for (std::int64_t i = first; i < last; ++i) rows.push_back({&prompt, m.image(set.samples[static_cast<std::size_t>(i)].image_path)});
    const LlavaBatch batch = left_padded_batch(m, rows);
    ForwardOptions options;
    options.capture_weights = capture_weights(position, batch.input_ids, batch.attention_mask,
                                              std::vector<std::int64_t>(rows.size(), static_cast<std::int64_t>(prompt.prompt_length)),
                                              m.image_token_id());
    options.vision_capture = vision_capture;
    const LlavaOutput out = m.model()->forward(batch, options);
    append_tensor<float>(writer, "states", out.states.to(torch::kCPU, torch::kFloat32));  // [B, L+1, D]
    if (config.vision) append_tensor<float>(writer, "vision_states", out.vision_states.to(torch::kCPU, torch::kFloat32));

    for (std::int64_t i = first; i < last; ++i) {
      const ProbeSample& s = set.samples[static_cast<std::size_t>(i)];
      metadata.add_sample({{"index", i},
                           {"image", s.image},
                           {"label", s.label},
                           {"group", s.group},
                           {"profile", s.profile},
                           {"profile_index", s.profile_index},
                           {"username", s.username},
                           {"prompt_text", prompt.prompt_text},
                           {"input_ids", prompt.input_ids}});
    }
    progress.tick(static_cast<std::uint64_t>(last - first));
  }
  progress.finish();
  writer.finish();
  metadata.finish();

  ExtractResult result{n, states, dim, 0};
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fs::path timing = config.out;
  timing.replace_extension(".timing.json");
  write_json_atomic(timing, {{"format_version", kFormatVersion},
                             {"seconds", result.seconds},
                             {"samples", n},
                             {"samples_per_second", result.seconds > 0 ? static_cast<double>(n) / result.seconds : 0.0},
                             {"device", config.inference.device},
                             {"threads", config.inference.threads}});
  spdlog::info("extract: {} samples x {} states x {} in {:.2f} s ({:.1f} samples/s)", n, states, dim, result.seconds,
               result.seconds > 0 ? static_cast<double>(n) / result.seconds : 0.0);
  return result;
}

}  // namespace privprobe
