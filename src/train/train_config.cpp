#include "train/train_config.h"

#include <cmath>
#include <sstream>

#include "util/error.h"
#include "util/paths.h"

using nlohmann::json;

namespace privprobe {
namespace {

std::string trim(const std::string& text) {
  const auto begin = text.find_first_not_of(" \t");
  if (begin == std::string::npos) return {};
  const auto end = text.find_last_not_of(" \t");
  return text.substr(begin, end - begin + 1);
}

json optional_json(const std::optional<double>& value) { return value ? json(*value) : json(nullptr); }

}  // namespace

std::vector<std::string> parse_freeze_list(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  std::string item;
  bool none = false;
  while (std::getline(stream, item, ',')) {
    item = trim(item);
    if (item.empty()) continue;
    if (item == "none") {
      none = true;
      continue;
    }
    if (item == "projector") item = kProjectorPart;
    if (item != kVisionTowerPart && item != kProjectorPart && item != kLanguageModelPart) {
      throw ConfigError(error_message("--freeze", "unknown part '" + item + "'",
                                      "vision_tower, multi_modal_projector (or projector), language_model, none"));
    }
    bool seen = false;
    for (const auto& p : parts) seen = seen || p == item;
    if (!seen) parts.push_back(item);
  }
  if (none && !parts.empty()) throw ConfigError(error_message("--freeze", "'none' cannot be combined with parts"));
  return parts;
}

void TrainConfig::validate() const {
  const auto fail = [](const std::string& flag, const std::string& what, const std::string& hint = {}) {
    throw ConfigError(error_message(flag, what, hint));
  };
  if (data.empty()) fail("--data", "is required");
  if (image_root.empty()) fail("--image-root", "is required");
  if (out.empty()) fail("--out", "is required");
  if (model_config.empty() == init.empty()) {
    fail("--config/--init", "give exactly one: --config NAME|FILE to pretrain, --init CHECKPOINT to fine-tune");
  }
  if (!init.empty() && !tokenizer.empty()) fail("--tokenizer", "only for pretraining; --init uses the checkpoint's tokenizer");
  if (!init.empty() && !tokenizer_profiles.empty()) fail("--tokenizer-profiles", "only for pretraining without --tokenizer");
  if (!tokenizer.empty() && !tokenizer_profiles.empty()) {
    fail("--tokenizer-profiles", "has no effect with --tokenizer (the corpus is only used to train a new tokenizer)");
  }
  if (steps < 0) fail("--steps", "must not be negative");
  if (epochs < 0) fail("--epochs", "must not be negative");
  if (steps > 0 && epochs > 0) fail("--steps/--epochs", "give one of them, not both");
  if (batch_size < 1) fail("--batch-size", "must be at least 1");
  if (grad_accum < 1) fail("--grad-accum", "must be at least 1");
  if (lr && !(*lr >= 0 && std::isfinite(*lr))) fail("--lr", "must be a finite number >= 0");
  if (projector_lr && !(*projector_lr >= 0 && std::isfinite(*projector_lr))) {
    fail("--projector-lr", "must be a finite number >= 0");
  }
  if (!(warmup_ratio >= 0 && warmup_ratio <= 1)) fail("--warmup-ratio", "must be in [0, 1]");
  if (!(weight_decay >= 0 && std::isfinite(weight_decay))) fail("--weight-decay", "must be a finite number >= 0");
  if (!std::isfinite(clip)) fail("--clip", "must be finite (<= 0 turns clipping off)");
  if (save_every < 0) fail("--save-every", "must not be negative");
  if (dynamics_every < 0) fail("--dynamics-every", "must not be negative");
  if (wm_per_batch < -1) fail("--wm-per-batch", "must be -1 (random batches) or a count");
  if (wm_per_batch > batch_size) {
    fail("--wm-per-batch", std::to_string(wm_per_batch) + " exceeds the batch size " + std::to_string(batch_size));
  }
  if (!(aux_weight >= 0 && std::isfinite(aux_weight))) fail("--aux-weight", "must be a finite number >= 0");
  if (threads < 0) fail("--threads", "must not be negative");
  if (device.empty()) fail("--device", "must be cpu, cuda or cuda:N");
  if (dtype == "f16") {
    fail("--dtype", "f16 training needs loss scaling, which privprobe does not implement", "use bf16 (or f32)");
  }
  if (dtype != "f32" && dtype != "bf16") fail("--dtype", "unknown dtype '" + dtype + "'", "f32 or bf16");
  if (halt_after < 0) fail("halt_after", "must not be negative");
  if (lora_save != "merged" && lora_save != "adapter") fail("--lora-save", "must be 'merged' or 'adapter'");
  if (lora.rank > 0) {
    if (pretraining()) fail("--lora-rank", "LoRA fine-tunes a checkpoint: give --init");
    lora.validate();
  } else if (lora.rank < 0) {
    fail("--lora-rank", "must not be negative");
  } else if (lora_save != "merged") {
    fail("--lora-save", "needs --lora-rank");
  }
  if (manifest == "none" && (wm_per_batch >= 0 || dynamics_every > 0)) {
    fail("--manifest", "'none' leaves no watermark information for --wm-per-batch or --dynamics-every");
  }
}

json train_settings_json(const TrainConfig& c) {
  json j = json::object();
  j["data"] = c.data.generic_string();
  j["image_root"] = c.image_root.generic_string();
  j["model_config"] = c.model_config.empty() ? json(nullptr) : json(c.model_config);
  j["init"] = c.init.empty() ? json(nullptr) : json(c.init.generic_string());
  j["tokenizer"] = c.tokenizer.empty() ? json(nullptr) : json(c.tokenizer.generic_string());
  json profiles = json::array();
  for (const auto& p : c.tokenizer_profiles) profiles.push_back(p.generic_string());
  j["tokenizer_profiles"] = profiles;
  j["steps"] = c.steps;
  j["epochs"] = c.epochs;
  j["batch_size"] = c.batch_size;
  j["grad_accum"] = c.grad_accum;
  j["lr"] = optional_json(c.lr);
  j["projector_lr"] = optional_json(c.projector_lr);
  j["warmup_ratio"] = c.warmup_ratio;
  j["weight_decay"] = c.weight_decay;
  j["clip"] = c.clip;
  j["seed"] = c.seed;
  j["manifest"] = c.manifest.empty() ? json(nullptr) : json(c.manifest);
  j["source_root"] = c.source_root.empty() ? json(nullptr) : json(c.source_root.generic_string());
  j["wm_per_batch"] = c.wm_per_batch;
  j["augment"] = c.augment;
  j["aux_objects"] = c.aux_objects.empty() ? json(nullptr) : json(c.aux_objects.generic_string());
  j["aux_weight"] = c.aux_weight;
  j["on_error"] = c.on_error == OnError::kFail ? "fail" : "skip";
  j["freeze"] = c.freeze ? json(*c.freeze) : json(nullptr);
  j["lora"] = {{"rank", c.lora.rank},     {"alpha", c.lora.alpha}, {"dropout", c.lora.dropout},
               {"targets", c.lora.targets}, {"scope", c.lora.scope}, {"save", c.lora_save}};
  j["dynamics_every"] = c.dynamics_every;
  j["dtype"] = c.dtype;
  return j;
}

}  // namespace privprobe
