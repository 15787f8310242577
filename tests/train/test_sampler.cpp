// The batch sampler: reproducible orders, every row once per epoch, exact watermark counts.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "train/sampler.h"
#include "train/trainer.h"
#include "util/error.h"

namespace privprobe {
namespace {

std::vector<bool> flags(std::size_t n, std::size_t every) {
  std::vector<bool> f(n);
  for (std::size_t i = 0; i < n; ++i) f[i] = i % every == 0;
  return f;
}

TEST(Sampler, RandomOrderIsAFunctionOfSeedAndRowCountOnly) {
  SamplerConfig c{7, 4, 1, -1};
  BatchSampler a(c, flags(20, 2)), b(c, flags(20, 3)), other(SamplerConfig{8, 4, 1, -1}, flags(20, 2));
  bool differs = false;
  for (std::int64_t step = 0; step < 12; ++step) {
    EXPECT_EQ(a.batch(step, 0), b.batch(step, 0)) << "step " << step;  // watermark flags do not matter
    differs = differs || a.batch(step, 0) != other.batch(step, 0);
  }
  EXPECT_TRUE(differs);
}

TEST(Sampler, EveryRowOncePerEpochAndEpochsDiffer) {
  BatchSampler s(SamplerConfig{1, 4, 2, -1}, flags(19, 2));
  EXPECT_EQ(s.steps_per_epoch(), 2);  // 19 rows -> 4 micro-batches of 4 -> 2 steps; 3 rows dropped
  std::vector<std::vector<std::size_t>> epochs(2);
  for (std::int64_t step = 0; step < 4; ++step) {
    auto rows = s.step_rows(step);
    EXPECT_EQ(rows.size(), 8u);
    auto& e = epochs[static_cast<std::size_t>(s.epoch_of_step(step))];
    e.insert(e.end(), rows.begin(), rows.end());
  }
  for (auto& e : epochs) {
    std::set<std::size_t> unique(e.begin(), e.end());
    EXPECT_EQ(unique.size(), 16u);
  }
  EXPECT_NE(epochs[0], epochs[1]);
}

TEST(Sampler, StepRowsAreTheMicroBatchesInOrder) {
  BatchSampler s(SamplerConfig{3, 3, 2, -1}, flags(12, 2));
  auto rows = s.step_rows(1);
  auto first = s.batch(1, 0), second = s.batch(1, 1);
  first.insert(first.end(), second.begin(), second.end());
  EXPECT_EQ(rows, first);
}

TEST(Sampler, FixedWatermarkCountInEveryBatch) {
  const auto f = flags(40, 3);  // 14 watermarked, 26 clean
  for (int k : {0, 1, 2, 3, 4}) {
    BatchSampler s(SamplerConfig{5, 4, 1, k}, f);
    ASSERT_GT(s.steps_per_epoch(), 0);
    std::set<std::size_t> seen;
    for (std::int64_t step = 0; step < 3 * s.steps_per_epoch(); ++step) {
      auto rows = s.batch(step, 0);
      ASSERT_EQ(rows.size(), 4u);
      int marked = 0;
      for (auto r : rows) marked += f[r] ? 1 : 0;
      EXPECT_EQ(marked, k) << "k " << k << " step " << step;
      if (s.epoch_of_step(step) == 0) {
        for (auto r : rows) EXPECT_TRUE(seen.insert(r).second) << "row repeated within an epoch";
      }
    }
  }
}

TEST(Sampler, WatermarkPositionsVaryWithinBatches) {
  const auto f = flags(40, 2);
  BatchSampler s(SamplerConfig{5, 4, 1, 1}, f);
  std::set<std::size_t> positions;
  for (std::int64_t step = 0; step < 10; ++step) {
    auto rows = s.batch(step, 0);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (f[rows[i]]) positions.insert(i);
    }
  }
  EXPECT_GT(positions.size(), 1u);
}

TEST(Sampler, TooFewRowsIsAClearError) {
  EXPECT_THROW(BatchSampler(SamplerConfig{0, 4, 2, -1}, flags(7, 2)), DataError);
  EXPECT_THROW(BatchSampler(SamplerConfig{0, 4, 1, -1}, {}), DataError);
  try {
    BatchSampler(SamplerConfig{0, 4, 1, 3}, flags(12, 6));  // 2 watermarked, need 3
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("2 watermarked"), std::string::npos) << e.what();
  }
  EXPECT_THROW(BatchSampler(SamplerConfig{0, 4, 1, 0}, std::vector<bool>(8, true)), DataError);  // no clean rows
}

TEST(Schedule, WarmupThenCosine) {
  EXPECT_DOUBLE_EQ(lr_factor(0, 100, 4), 0.25);
  EXPECT_DOUBLE_EQ(lr_factor(3, 100, 4), 1.0);
  EXPECT_DOUBLE_EQ(lr_factor(4, 100, 4), 1.0);
  EXPECT_NEAR(lr_factor(52, 100, 4), 0.5, 1e-12);
  EXPECT_GT(lr_factor(99, 100, 4), 0.0);
  EXPECT_LT(lr_factor(99, 100, 4), 0.01);
  EXPECT_DOUBLE_EQ(lr_factor(0, 1, 0), 1.0);
  for (std::int64_t s = 5; s < 100; ++s) EXPECT_LE(lr_factor(s, 100, 4), lr_factor(s - 1, 100, 4));
}

}  // namespace
}  // namespace privprobe
