// `privprobe train`: pretrain the tiny model from a config or fine-tune a checkpoint (full or LoRA),
// with answer-only loss, AdamW, linear warmup then cosine decay, gradient clipping and
// accumulation, optional per-patch auxiliary loss, augmentation, fixed watermark counts per batch,
// and the partial mini-batch dynamics (train/dynamics.h).
//
// Run folder:
//   train_config.json    settings, resolved values (lr, steps, data counts) and skipped rows
//   tokenizer.model      pretraining without --tokenizer: the tokenizer trained on the data
//   train_log.jsonl      one row per optimizer step (sorted keys): step (1-based), epoch, loss,
//                        lm_loss, aux_loss (null without --aux-objects), lr, grad_norm (before
//                        clipping), rows, watermarked, tokens, label_tokens. Deterministic: same
//                        seed, same bytes (timings live in train_timing.jsonl).
//   train_timing.jsonl   per step: seconds, data_seconds, dynamics_seconds, samples_per_s, tokens_per_s
//   dynamics.jsonl       with --dynamics-every K: steps 1, 1+K, 1+2K, ... (measured before the update)
//   state/               the resumable state (train/train_state.h), every --save-every steps and at the end
//   checkpoint/          the final model (Hugging Face layout; LoRA merged), or with --lora-save
//                        adapter the adapter in PEFT layout (adapter_config.json, adapter_model.safetensors)
// A NaN or Inf loss or gradient stops the run with TrainingDivergedError; state/ keeps the last good step.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "train/train_config.h"
#include "util/error.h"

namespace privprobe {

// The loss or gradient became NaN or Inf.
class TrainingDivergedError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return 6; }
};

struct TrainResult {
  std::int64_t total_steps = 0;
  std::int64_t start_step = 0;     // > 0 when resumed
  std::int64_t steps_run = 0;      // by this process
  double last_loss = 0;
  std::size_t rows = 0;
  std::size_t skipped = 0;
  std::size_t watermarked = 0;
  std::filesystem::path checkpoint;  // empty when halted before the end
  bool already_complete = false;     // --resume of a finished run: nothing to do
};

// Throws ConfigError, IoError, FormatError, DataError (naming the flag, file or row) or
// TrainingDivergedError.
TrainResult run_train(const TrainConfig& config);

// The learning-rate factor at 0-based step `step` of `total`: linear warmup (step + 1) / warmup over
// the first `warmup` steps, then cosine from 1 down towards 0 at the end.
double lr_factor(std::int64_t step, std::int64_t total, std::int64_t warmup);

}  // namespace privprobe
