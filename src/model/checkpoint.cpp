#include "model/checkpoint.h"

#include <unistd.h>

#include "io/sharded_safetensors.h"
#include "model/parameter_init.h"
#include "model/weights.h"
#include "text/hf_tokenizer.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_io.h"
#include "util/log.h"
#include "util/version.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace privprobe {
namespace {

// The tokenizer must turn "<image>" into config.json's image_token_index: llava-hf's
// tokenizer.model lacks it, and added_tokens.json or tokenizer_config.json adds it (id 32000).
void check_image_token(const fs::path& folder, const LlavaConfig& config, const SentencePieceTokenizer& tokenizer) {
  const int expected = config.image_token_index;
  const std::optional<int> found = tokenizer.id_of("<image>");
  if (!found) {
    throw FormatError(error_message((folder / "tokenizer.model").string(), "has no <image> token, and no added_tokens.json or "
                                    "tokenizer_config.json in the folder adds it",
                                    "llava-hf checkpoints add \"<image>\": " + std::to_string(expected) + " in added_tokens.json"));
  }
  if (*found != expected) {
    throw FormatError(error_message((folder / "config.json").string(),
                                    "image_token_index is " + std::to_string(expected) + " but the tokenizer gives <image> id " +
                                        std::to_string(*found),
                                    "the tokenizer files and config.json come from different checkpoints"));
  }
}

}  // namespace

bool is_checkpoint(const fs::path& folder) {
  std::error_code ec;
  return fs::is_regular_file(folder / "config.json", ec) &&
         (fs::exists(folder / std::string(kSafetensorsSingleFileName), ec) ||
          fs::exists(folder / std::string(kSafetensorsIndexFileName), ec));
}

LoadedCheckpoint load_checkpoint(const fs::path& folder, const CheckpointLoadOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) {
    throw IoError(error_message(folder.string(), "is not a checkpoint folder (no such folder)"));
  }
  if (!fs::is_regular_file(folder / "config.json", ec)) {
    throw IoError(error_message(folder.string(), "is not a checkpoint: config.json is missing"));
  }
  LoadedCheckpoint ck{folder, load_llava_config(folder / "config.json"), {}, load_hf_tokenizer(folder), nullptr, json::object()};
  if (!options.template_name.empty()) {
    ck.config.template_name = options.template_name;
  } else if (!fs::exists(folder / "privprobe.json", ec)) {
    ck.config.template_name = "llava_hf";  // a published llava-hf checkpoint: its model card's template
  }
  const fs::path processor = folder / "preprocessor_config.json";
  ck.image_processor = fs::exists(processor, ec) ? load_image_processor_config(processor)
                                                 : ImageProcessorConfig::for_size(ck.config.vision.image_size);
  if (fs::exists(folder / "privprobe.json", ec)) ck.provenance = read_json(folder / "privprobe.json");

  check_image_token(folder, ck.config, ck.tokenizer);

  // Parameters are created in the target dtype so a large model never exists in float32.
  const auto previous_default = torch::get_default_dtype();
  torch::set_default_dtype(caffe2::TypeMeta::fromScalarType(options.dtype));
  try {
    SkipParameterInit no_random_init;  // every parameter is read from the file below
    ck.model = LlavaForConditionalGeneration(ck.config);
  } catch (...) {
    torch::set_default_dtype(previous_default);
    throw;
  }
  torch::set_default_dtype(previous_default);

  const ShardedSafetensors weights = open_checkpoint_weights(folder);
  // post_layernorm is never used by LLaVA; some exports drop it.
  const LoadReport report = load_weights(*ck.model, weights, {"vision_tower.vision_model.post_layernorm."});
  for (const auto& name : report.unexpected) spdlog::debug("{}: tensor '{}' is not used by the model", folder.string(), name);
  ck.model->to(options.device);
  ck.model->eval();
  return ck;
}

void save_checkpoint(const fs::path& folder, LlavaForConditionalGeneration& model, const LlavaConfig& config,
                     const fs::path& tokenizer_file, const SentencePieceTokenizer& tokenizer,
                     const ImageProcessorConfig& image_processor, json provenance, const CheckpointSaveOptions& options) {
  const fs::path temp = temp_path_for(folder);
  std::error_code ec;
  fs::remove_all(temp, ec);
  fs::create_directories(temp, ec);
  if (ec) throw IoError(error_message(temp.string(), "cannot create folder: " + ec.message()));
  try {
    save_weights(temp, named_tensors(*model), options.dtype, options.max_shard_bytes, {{"format", "pt"}});
    write_json_atomic(temp / "config.json", llava_config_to_json(config));
    write_json_atomic(temp / "preprocessor_config.json", image_processor.to_json());
    write_file_atomic(temp / "tokenizer.model", read_file(tokenizer_file));
    json added = json::object();
    for (const auto& token : tokenizer.added_tokens()) {
      if (token.id >= tokenizer.model_size()) added[token.content] = token.id;
    }
    if (!added.empty()) write_json_atomic(temp / "added_tokens.json", added);
    provenance["format_version"] = kFormatVersion;
    provenance["privprobe_version"] = version();
    provenance["git_revision"] = git_revision();
    write_json_atomic(temp / "privprobe.json", provenance);
  } catch (...) {
    fs::remove_all(temp, ec);
    throw;
  }
  // Replace: the old folder moves aside first, so the final name always holds a whole checkpoint
  // or none (and never a mix of two).
  const fs::path old = temp_path_for(folder);
  if (fs::exists(folder, ec)) fs::rename(folder, old, ec);
  if (ec) throw IoError(error_message(folder.string(), "cannot replace checkpoint: " + ec.message()));
  fs::rename(temp, folder, ec);
  if (ec) throw IoError(error_message(folder.string(), "cannot move checkpoint into place: " + ec.message()));
  fs::remove_all(old, ec);
}

}  // namespace privprobe
