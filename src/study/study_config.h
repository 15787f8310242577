// The settings of `privprobe study`, read from TOML (docs/study.md documents every key).
//
// One source of truth: configs/default.toml is compiled into the binary (kDefaultStudyToml) and is
// the embedded default. A user's file overlays it key by key, so it only names what it changes;
// with --quick the [quick.*] tables of the default and then of the user's file overlay the result.
// Unknown keys, wrong types and bad values are ConfigErrors naming the file and the key.
//
// Relative paths in a user's file ([profiles] u1/u2, [model] checkpoint and config, [data] *) are
// relative to that file's folder; [study] out is relative to the current folder, as --out is.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace privprobe {

// configs/default.toml, as compiled in.
extern const std::string_view kDefaultStudyToml;
inline constexpr const char* kEmbeddedConfigName = "embedded default (configs/default.toml)";
// configs/reading.toml, as compiled in: the `reading` preset (laid over the default).
extern const std::string_view kReadingStudyToml;

// The presets `study --preset NAME` knows ("reading"), and the text of one; an unknown name is a
// ConfigError listing them.
std::vector<std::string> study_preset_names();
std::string_view study_preset_toml(const std::string& name);

struct StudySection {
  std::uint64_t seed = 0;             // album, profiles, watermarks, pretraining, probe set, folds
  std::vector<std::uint64_t> seeds;   // fine-tuning seeds (training randomness: data order, LoRA init)
  std::vector<double> rates;          // watermark rates r of the fine-tuning arms
  std::string style;                  // watermark style: identicon, text or both
  std::string out;                    // study folder when --out is not given
  int threads = 0;                    // libtorch/BLAS threads (0: the measured best split)
  std::string device;                 // cpu, cuda or cuda:N: training and inference
  std::string dtype;                  // f32 or bf16: frozen weights held and computed in (trained ones stay f32)
};

struct AlbumSection {
  std::int64_t pretrain = 0;  // synthetic images for pretraining the base (clean)
  std::int64_t finetune = 0;  // images for fine-tuning (watermarked per arm)
  std::int64_t heldout = 0;   // held-out images: probe set and VQA evaluation
  int size = 128;
  std::string format;         // png or jpg
};

struct ProfilesSection {
  std::int64_t count = 20;
  std::string u1, u2;         // a user's profile files (JSONL); empty: generated
};

struct WatermarkSection {
  double opacity = 0.5;
  std::vector<std::string> fields;  // text style: the profile fields drawn
  bool field_names = true;           // text style: "key: value" lines (false: the values alone)
  std::string placement;             // random (the paper), top-left or center
  int font_size = 0;                // 0: scaled to the image
  int identicon_cell = 0;           // 0: scaled to the image
};

struct ModelSection {
  std::string config;      // pretraining: tiny, tiny-reading, bench or a config.json
  std::string checkpoint;  // a user's checkpoint folder: no pretraining, it is the base
};

struct DataSection {
  std::string llava_json;     // a user's fine-tuning rows (LLaVA JSON): no synthetic album
  std::string image_root;
  std::string heldout_json;   // held-out rows (same image root): probe set and evaluation
  std::string pretrain_json;  // rows to pretrain on when [model] checkpoint is empty
};

struct PretrainSection {
  std::int64_t steps = 0;
  int batch_size = 8;
  double lr = 1e-3;
  double aux_weight = 1.0;    // per-patch object loss on the vision tower (synthetic album only)
  double perception_rate = 0; // share of pretraining images carrying a U0 profile (0: none)
  double perception_share = 0;  // of those, the share asking for the username (the perception task)
  bool identicon_labels = false;  // the per-patch loss also names each identicon cell (ink / blank)
  bool character_labels = false;  // the per-patch loss also names the character under each patch of U0 text
  std::int64_t save_every = 0;
};

struct FinetuneSection {
  std::int64_t steps = 0;
  int batch_size = 8;
  double lr = 3e-4;
  std::int64_t dynamics_every = 0;
  std::vector<std::string> freeze;  // parts not trained; [] trains everything
  std::int64_t save_every = 0;
  int lora_rank = 0;                // > 0: every arm fine-tunes with LoRA of this rank (0: full)
  double lora_alpha = 16;
  double lora_dropout = 0.05;
  double projector_lr = 0;          // 0: lr
  double warmup_ratio = 0.03;
  int grad_accum = 1;               // micro-batches per step (batch_size each)
  bool gradient_checkpointing = false;
};

struct ArmsSection {
  bool control = true;          // positive-control arm
  double control_share = 0.3;   // of its watermarked rows asking for the username
  double control_rate = 0.5;
  int control_seeds = 1;        // the control arm trains with the first N seeds
  double extra_rate = 0.5;      // rate of the augment / wmbatch / lora arms
  bool augment = false;
  int wm_per_batch = 0;         // > 0: arm `wmbatch` with exactly K watermarked samples per batch
  int lora_rank = 0;            // > 0: arm `lora` (LoRA instead of full fine-tuning)
};

struct ProbeSection {
  std::int64_t images = 0;      // held-out base images in the probe set (0: all)
  std::string question;
  std::string position;         // extract position: last, image-mean, all-mean, index:K
  int folds = 5;
  int repeats = 3;
  double C = 1.0;
  int bootstrap = 1000;
  int permutations = 10000;
};

struct AskSection {
  int max_new_tokens = 16;
  int batch_size = 8;
};

struct EvalSection {
  std::int64_t count = 0;       // held-out questions (0: all)
  int max_new_tokens = 8;
  int batch_size = 8;
};

struct StudyConfig {
  StudySection study;
  AlbumSection album;
  ProfilesSection profiles;
  WatermarkSection watermark;
  ModelSection model;
  DataSection data;
  PretrainSection pretrain;
  FinetuneSection finetune;
  ArmsSection arms;
  ProbeSection probe;
  AskSection ask;
  EvalSection eval;

  bool synthetic() const { return data.llava_json.empty(); }
  bool pretrains() const { return model.checkpoint.empty(); }
};

// The embedded default (with --quick: its quick overrides applied). Never throws for a good build.
StudyConfig default_study_config(bool quick = false);

// The embedded default overlaid with the preset (empty: none), then `file` (empty: none), then the
// quick overrides of each, in that order, when asked. Throws IoError (unreadable file) or
// ConfigError naming the file (or preset) and the key.
StudyConfig load_study_config(const std::filesystem::path& file, bool quick, const std::string& preset = "");

// Overlays TOML text onto config; `name` names the source in errors and `base_dir` resolves its
// relative paths (empty: leave them). apply_quick: overlay the [quick.*] tables instead of the
// top-level ones. Throws ConfigError.
void overlay_study_toml(StudyConfig& config, std::string_view text, const std::string& name,
                        const std::filesystem::path& base_dir, bool apply_quick);

// Checks that hold across keys (a user dataset needs its image root, ...). Throws ConfigError
// naming `name` and the key.
void validate_study_config(const StudyConfig& config, const std::string& name);

// Every key, as "section.key", in declaration order (the documentation test reads this).
std::vector<std::string> study_config_keys();

// The resolved settings as TOML text (every key) and as JSON {section: {key: value}}.
std::string study_config_to_toml(const StudyConfig& config);
nlohmann::json study_config_to_json(const StudyConfig& config);

// "r0.5": the arm name of a rate (%g).
std::string rate_arm_name(double rate);

}  // namespace privprobe
