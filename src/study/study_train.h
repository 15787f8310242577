// The study's one door into `train`: a torch-free description of a training run, so the study's
// other files compile without libtorch's headers (train/train_config.h pulls them in).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace privprobe {

struct StudyTrainJob {
  std::filesystem::path data;        // LLaVA JSON (its manifest.jsonl, if any, lies beside it)
  std::filesystem::path image_root;
  std::filesystem::path out;         // the run folder
  std::string model_config;          // pretraining: tiny, tiny-reading, bench or a config.json
  std::filesystem::path init;        // fine-tuning: a checkpoint folder
  std::vector<std::filesystem::path> tokenizer_profiles;
  std::filesystem::path aux_objects;
  double aux_weight = 1.0;
  std::int64_t steps = 0;
  int batch_size = 8;
  double lr = 1e-3;
  std::uint64_t seed = 0;
  std::int64_t save_every = 0;
  std::int64_t dynamics_every = 0;
  bool augment = false;
  int wm_per_batch = -1;
  int lora_rank = 0;
  double lora_alpha = 16;
  double lora_dropout = 0.05;
  double projector_lr = 0;  // 0: lr
  double warmup_ratio = 0.03;
  int grad_accum = 1;
  bool gradient_checkpointing = false;
  std::string device = "cpu";
  std::string dtype = "f32";
  std::optional<std::vector<std::string>> freeze;
  int threads = 0;
  bool resume = false;
  bool progress = true;
};

struct StudyTrainOutcome {
  std::int64_t total_steps = 0;
  double last_loss = 0;
  bool already_complete = false;
};

// Runs (or resumes) the training run. Throws what run_train throws.
StudyTrainOutcome run_study_train(const StudyTrainJob& job);

}  // namespace privprobe
