// `privprobe train`: the settings of one training run, as the CLI parses them. Pretraining from a
// model config (`tiny`, `bench` or a config.json) or fine-tuning a checkpoint (`init`), full or
// LoRA. validate() refuses impossible combinations before anything is read; the trainer resolves
// the rest (defaults that depend on the mode, the tokenizer, the number of steps) and records the
// resolved settings in RUN/train_config.json.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "embed/embed.h"  // OnError
#include "train/lora.h"

namespace privprobe {

// The model's parts, as named by Hugging Face (and --freeze).
inline constexpr const char* kVisionTowerPart = "vision_tower";
inline constexpr const char* kProjectorPart = "multi_modal_projector";
inline constexpr const char* kLanguageModelPart = "language_model";

struct TrainConfig {
  // I/O
  std::filesystem::path data;        // LLaVA JSON
  std::filesystem::path image_root;  // image paths in `data` are relative to it
  std::filesystem::path out;         // the run folder
  std::string model_config;          // pretraining: "tiny", "tiny-reading", "bench" or a config.json path
  std::filesystem::path init;        // fine-tuning: a checkpoint folder
  std::filesystem::path tokenizer;   // pretraining: a tokenizer.model (else one is trained on the data)
  std::vector<std::filesystem::path> tokenizer_profiles;  // profile files whose usernames join the tokenizer corpus

  // schedule
  std::int64_t steps = 0;  // 0: from epochs
  int epochs = 0;          // 0 with steps 0: one epoch
  int batch_size = 8;      // samples per forward pass (a micro-batch)
  int grad_accum = 1;      // micro-batches per optimizer step
  std::optional<double> lr;            // unset: 1e-3 pretraining, 3e-4 fine-tuning (SCIENCE-NOTES prototype)
  std::optional<double> projector_lr;  // unset: lr
  double warmup_ratio = 0.03;
  double weight_decay = 0.0;  // applied to matrices only (not biases and norms), as Hugging Face's Trainer
  double clip = 1.0;          // max gradient norm; <= 0: no clipping
  std::uint64_t seed = 0;
  std::int64_t save_every = 0;  // 0: only at the end
  bool resume = false;

  // data
  std::string manifest;            // embed manifest; empty: manifest.jsonl beside --data if present; "none": no watermark info
  std::filesystem::path source_root;  // clean sources; empty: the input root recorded in embed_config.json
  int wm_per_batch = -1;           // -1: random batches; K: exactly K watermarked samples per micro-batch
  bool augment = false;
  std::filesystem::path aux_objects;  // objects.json for the per-patch auxiliary loss
  double aux_weight = 1.0;
  OnError on_error = OnError::kFail;

  // model
  std::optional<std::vector<std::string>> freeze;  // unset: vision_tower when fine-tuning, nothing when pretraining
  LoraConfig lora;                                 // rank 0: full training
  std::string lora_save = "merged";                // "merged" or "adapter"

  // measurement and runtime
  std::int64_t dynamics_every = 0;  // 0: no dynamics.jsonl
  int threads = 0;                  // 0: the measured best split (model/runtime.h)
  std::string device = "cpu";       // cpu, cuda or cuda:N
  // f32, or bf16: frozen weights are held in bf16 and the forward runs under bf16 autocast, while
  // what trains (adapters, projector, unfrozen parts) keeps float32 weights and optimizer moments.
  std::string dtype = "f32";
  bool gradient_checkpointing = false;  // decoder layers rerun in backward instead of keeping activations
  bool progress = true;
  // Stops after this many steps of this process (as if killed: no final save). For tests of --resume.
  std::int64_t halt_after = 0;

  bool pretraining() const { return init.empty(); }
  // Throws ConfigError naming the flag.
  void validate() const;
};

// "vision_tower,multi_modal_projector" -> parts; "projector" is accepted for multi_modal_projector,
// "none" gives an empty list. Throws ConfigError for an unknown part.
std::vector<std::string> parse_freeze_list(const std::string& text);

// The settings that decide the run's results (not out, resume, threads, progress, save_every,
// halt_after): recorded in train_config.json and compared on --resume.
nlohmann::json train_settings_json(const TrainConfig& config);

}  // namespace privprobe
