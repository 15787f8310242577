// Which rows make up each micro-batch. The order is a pure function of the seed, the epoch and the
// number of rows (random mode) — never of which rows are watermarked — so runs on data embedded at
// different rates, with the same seed and batch size, see the same rows at the same step and can be
// compared step by step. `wm_per_batch` K builds every micro-batch from exactly K watermarked and
// B - K clean rows (each pool shuffled per epoch, the K rows placed at random positions).
//
// A step is `grad_accum` consecutive micro-batches; an epoch ends after the last whole step (the
// rows left over are dropped, as a DataLoader with drop_last), so no step spans two epochs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace privprobe {

struct SamplerConfig {
  std::uint64_t seed = 0;
  int batch_size = 8;
  int grad_accum = 1;
  int wm_per_batch = -1;  // -1: random
};

class BatchSampler {
 public:
  // watermarked: one flag per row. Throws DataError when the rows cannot fill one step (naming
  // how many rows, or watermarked/clean rows, there are and how many a step needs).
  BatchSampler(const SamplerConfig& config, std::vector<bool> watermarked);

  std::int64_t steps_per_epoch() const { return steps_per_epoch_; }
  std::int64_t epoch_of_step(std::int64_t step) const { return step / steps_per_epoch_; }
  // Rows of micro-batch `micro` (0 <= micro < grad_accum) of step `step`, in batch order.
  std::vector<std::size_t> batch(std::int64_t step, int micro);
  // All rows of a step, its micro-batches concatenated.
  std::vector<std::size_t> step_rows(std::int64_t step);

 private:
  void prepare_epoch(std::int64_t epoch);

  SamplerConfig config_;
  std::vector<bool> watermarked_;
  std::vector<std::size_t> wm_rows_, clean_rows_;
  std::int64_t steps_per_epoch_ = 0;
  std::int64_t cached_epoch_ = -1;
  std::vector<std::size_t> order_;  // random mode: the epoch's permutation of all rows
  std::vector<std::size_t> wm_order_, clean_order_;  // fixed-count mode
};

}  // namespace privprobe
