#include "train/sampler.h"

#include <algorithm>
#include <limits>
#include <string>

#include "util/error.h"
#include "util/rng.h"

namespace privprobe {
namespace {

std::vector<std::size_t> iota(std::size_t n) {
  std::vector<std::size_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

std::string epoch_key(const char* what, std::int64_t epoch) { return std::string("train/") + what + "/" + std::to_string(epoch); }

}  // namespace

BatchSampler::BatchSampler(const SamplerConfig& config, std::vector<bool> watermarked)
    : config_(config), watermarked_(std::move(watermarked)) {
  const auto b = static_cast<std::size_t>(config_.batch_size);
  const auto a = static_cast<std::size_t>(config_.grad_accum);
  const std::string need = std::to_string(b * a) + " (batch size " + std::to_string(b) + " x grad-accum " + std::to_string(a) + ")";
  if (watermarked_.empty()) throw DataError(error_message("training data", "the dataset has no usable rows"));
  for (std::size_t i = 0; i < watermarked_.size(); ++i) (watermarked_[i] ? wm_rows_ : clean_rows_).push_back(i);

  std::size_t micro_batches = 0;
  if (config_.wm_per_batch < 0) {
    micro_batches = watermarked_.size() / b;
    if (micro_batches < a) {
      throw DataError(error_message("training data", "has " + std::to_string(watermarked_.size()) +
                                                         " rows, fewer than one step needs: " + need,
                                    "lower --batch-size or --grad-accum"));
    }
  } else {
    const auto k = static_cast<std::size_t>(config_.wm_per_batch);
    micro_batches = std::numeric_limits<std::size_t>::max();
    if (k > 0) micro_batches = std::min(micro_batches, wm_rows_.size() / k);
    if (k < b) micro_batches = std::min(micro_batches, clean_rows_.size() / (b - k));
    if (micro_batches < a) {
      throw DataError(error_message(
          "training data",
          "has " + std::to_string(wm_rows_.size()) + " watermarked and " + std::to_string(clean_rows_.size()) +
              " clean rows; one step with --wm-per-batch " + std::to_string(k) + " needs " + std::to_string(k * a) +
              " watermarked and " + std::to_string((b - k) * a) + " clean",
          "lower --wm-per-batch, --batch-size or --grad-accum"));
    }
  }
  steps_per_epoch_ = static_cast<std::int64_t>(micro_batches / a);
}

void BatchSampler::prepare_epoch(std::int64_t epoch) {
  if (epoch == cached_epoch_) return;
  if (config_.wm_per_batch < 0) {
    order_ = iota(watermarked_.size());
    Rng rng(derive_seed(config_.seed, epoch_key("order", epoch)));
    rng.shuffle(order_);
  } else {
    wm_order_ = wm_rows_;
    clean_order_ = clean_rows_;
    Rng wm_rng(derive_seed(config_.seed, epoch_key("order-watermarked", epoch)));
    Rng clean_rng(derive_seed(config_.seed, epoch_key("order-clean", epoch)));
    wm_rng.shuffle(wm_order_);
    clean_rng.shuffle(clean_order_);
  }
  cached_epoch_ = epoch;
}

std::vector<std::size_t> BatchSampler::batch(std::int64_t step, int micro) {
  const std::int64_t epoch = epoch_of_step(step);
  prepare_epoch(epoch);
  const auto b = static_cast<std::size_t>(config_.batch_size);
  const auto index = static_cast<std::size_t>((step - epoch * steps_per_epoch_) * config_.grad_accum + micro);
  std::vector<std::size_t> rows;
  rows.reserve(b);
  if (config_.wm_per_batch < 0) {
    rows.assign(order_.begin() + static_cast<std::ptrdiff_t>(index * b),
                order_.begin() + static_cast<std::ptrdiff_t>((index + 1) * b));
    return rows;
  }
  const auto k = static_cast<std::size_t>(config_.wm_per_batch);
  for (std::size_t i = 0; i < k; ++i) rows.push_back(wm_order_[index * k + i]);
  for (std::size_t i = 0; i < b - k; ++i) rows.push_back(clean_order_[index * (b - k) + i]);
  // Where in the batch the watermarked rows sit is random too, so position carries no signal.
  Rng place(derive_seed(config_.seed, epoch_key("place", epoch) + "/" + std::to_string(index)));
  place.shuffle(rows);
  return rows;
}

std::vector<std::size_t> BatchSampler::step_rows(std::int64_t step) {
  std::vector<std::size_t> rows;
  for (int m = 0; m < config_.grad_accum; ++m) {
    auto part = batch(step, m);
    rows.insert(rows.end(), part.begin(), part.end());
  }
  return rows;
}

}  // namespace privprobe
