#include <gtest/gtest.h>

#include <set>

#include "util/rng.h"

namespace privprobe {
namespace {

TEST(Rng, SameSeedSameSequence) {
  Rng a(42), b(42);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.next_u64(), b.next_u64());
}

TEST(Rng, KnownFirstValuesAreStableAcrossPlatforms) {
  // Pinned values: data generation depends on this sequence never changing.
  Rng rng(0);
  const std::uint64_t first = rng.next_u64();
  Rng again(0);
  EXPECT_EQ(first, again.next_u64());
  EXPECT_EQ(mix64(0), 0xe220a8397b1dcdafULL);
  EXPECT_EQ(fnv1a64("a"), 0xaf63dc4c8601ec8cULL);
}

TEST(Rng, BelowStaysInRangeAndCoversIt) {
  Rng rng(7);
  std::set<std::uint64_t> seen;
  for (int i = 0; i < 2000; ++i) {
    const auto v = rng.below(10);
    ASSERT_LT(v, 10u);
    seen.insert(v);
  }
  EXPECT_EQ(seen.size(), 10u);
}

TEST(Rng, UniformMeanIsAboutHalf) {
  Rng rng(3);
  double sum = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const double u = rng.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  EXPECT_NEAR(sum / n, 0.5, 0.01);
}

TEST(Rng, RangeIsInclusive) {
  Rng rng(5);
  bool lo = false, hi = false;
  for (int i = 0; i < 1000; ++i) {
    const auto v = rng.range(18, 20);
    ASSERT_GE(v, 18);
    ASSERT_LE(v, 20);
    lo |= v == 18;
    hi |= v == 20;
  }
  EXPECT_TRUE(lo && hi);
}

TEST(Rng, DeriveSeedDependsOnKeyAndSeed) {
  EXPECT_NE(derive_seed(1, "a.jpg"), derive_seed(1, "b.jpg"));
  EXPECT_NE(derive_seed(1, "a.jpg"), derive_seed(2, "a.jpg"));
  EXPECT_EQ(derive_seed(1, "a.jpg"), derive_seed(1, "a.jpg"));
}

TEST(Rng, StateRoundTrip) {
  Rng a(9);
  a.next_u64();
  Rng b(0);
  b.set_state(a.state());
  EXPECT_EQ(a.next_u64(), b.next_u64());
  EXPECT_THROW(b.set_state({1, 2}), std::invalid_argument);
}

TEST(Rng, ShuffleIsAPermutation) {
  Rng rng(11);
  std::vector<int> v(50);
  for (int i = 0; i < 50; ++i) v[static_cast<std::size_t>(i)] = i;
  rng.shuffle(v);
  std::set<int> s(v.begin(), v.end());
  EXPECT_EQ(s.size(), 50u);
  bool moved = false;
  for (int i = 0; i < 50; ++i) moved |= v[static_cast<std::size_t>(i)] != i;
  EXPECT_TRUE(moved);
}

}  // namespace
}  // namespace privprobe
