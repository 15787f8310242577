// Deterministic random numbers that give the same sequence on every platform and standard
// library (std:: distributions are implementation-defined, so none are used for data).
// Every stage derives its generators from the user's seed plus a stable key (a file's relative
// path, a stage name), so results do not depend on thread count or processing order.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace privprobe {

// 64-bit FNV-1a: a stable hash for keys (not for security).
std::uint64_t fnv1a64(std::string_view data, std::uint64_t basis = 0xcbf29ce484222325ULL);

// SplitMix64 finaliser: mixes a 64-bit value.
std::uint64_t mix64(std::uint64_t x);

// A seed for one unit of work, from the run's seed and a key naming the unit.
std::uint64_t derive_seed(std::uint64_t seed, std::string_view key);

// xoshiro256** seeded through SplitMix64.
class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0);
  std::uint64_t next_u64();
  // Uniform integer in [0, n); n > 0. Unbiased (Lemire's method with rejection).
  std::uint64_t below(std::uint64_t n);
  // Uniform integer in [lo, hi], inclusive.
  std::int64_t range(std::int64_t lo, std::int64_t hi);
  // Uniform double in [0, 1) with 53 random bits.
  double uniform();
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  bool bernoulli(double p) { return uniform() < p; }
  // Standard normal (Box-Muller; one of the pair is discarded to keep the state simple).
  double normal();
  // Fisher-Yates shuffle of v.
  template <typename T>
  void shuffle(std::vector<T>& v) {
    for (std::size_t i = v.size(); i > 1; --i) {
      const std::size_t j = static_cast<std::size_t>(below(i));
      std::swap(v[i - 1], v[j]);
    }
  }
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[static_cast<std::size_t>(below(v.size()))];
  }

  // The full state, so training can checkpoint and resume its generators.
  std::vector<std::uint64_t> state() const { return {s_[0], s_[1], s_[2], s_[3]}; }
  void set_state(const std::vector<std::uint64_t>& state);

 private:
  std::uint64_t s_[4];
};

}  // namespace privprobe
