// CountSketch of a gradient (see dynamics.h): element i goes to bucket(i) with sign(i), both from
// privprobe's mix64 (no RNG state), so every run on every machine hashes alike. The coordinates of
// a model's trainable parameters are computed once and cached on its device.
#include "train/dynamics.h"

#include <algorithm>
#include <memory>
#include <mutex>

#include "util/error.h"
#include "util/parallel.h"
#include "util/rng.h"

namespace privprobe {
namespace {

// Elements converted to float64 at a time: bounds the temporaries for 7B-sized tensors.
constexpr int64_t kChunk = int64_t{1} << 22;
// Cached sketch coordinates cost 4 bytes per trainable element; past this many elements (a full
// fine-tune of a large model) they are hashed afresh for each chunk instead.
constexpr int64_t kMaxCachedCodes = int64_t{1} << 28;

// Cached coordinates of one layout: per tensor, int32 codes sign * (bucket + 1), on the device.
struct SketchCodes {
  uint64_t seed = 0;
  int size = 0;
  torch::Device device = torch::kCPU;
  std::vector<std::pair<uint64_t, int64_t>> ranges;  // (global offset, numel) per tensor
  std::vector<torch::Tensor> codes;
};

uint64_t sketch_key(uint64_t seed) { return mix64(fnv1a64("privprobe.count_sketch") ^ mix64(seed)); }

// Element `index`'s coordinate as sign * (bucket + 1): a SplitMix64 stream keyed by the seed.
int32_t sketch_code(uint64_t key, uint64_t size, uint64_t index) {
  const uint64_t h = mix64(key + index * 0x9E3779B97F4A7C15ULL);
  const auto bucket = static_cast<int32_t>(((h >> 32) * size) >> 32);  // uniform in [0, size)
  return (h & 1) ? -(bucket + 1) : bucket + 1;
}

torch::Tensor make_codes(uint64_t offset, int64_t numel, const DynamicsConfig& config, torch::Device device) {
  constexpr int64_t kBlock = int64_t{1} << 16;
  auto codes = torch::empty({numel}, torch::kInt32);
  int32_t* out = codes.data_ptr<int32_t>();
  const uint64_t key = sketch_key(config.sketch_seed);
  const auto size = static_cast<uint64_t>(config.sketch_size);
  parallel_for(static_cast<std::size_t>((numel + kBlock - 1) / kBlock), 0, [&](std::size_t block) {
    const int64_t begin = static_cast<int64_t>(block) * kBlock;
    const int64_t end = std::min(numel, begin + kBlock);
    for (int64_t j = begin; j < end; ++j) out[j] = sketch_code(key, size, offset + static_cast<uint64_t>(j));
  });
  return codes.to(device);
}

// One cached layout at a time (the model being trained); rebuilt when the layout changes.
std::shared_ptr<const SketchCodes> sketch_codes(const std::vector<std::pair<uint64_t, int64_t>>& ranges,
                                                const DynamicsConfig& config, torch::Device device) {
  static std::mutex mutex;
  static std::shared_ptr<const SketchCodes> cached;
  std::lock_guard<std::mutex> lock(mutex);
  if (cached && cached->seed == config.sketch_seed && cached->size == config.sketch_size && cached->device == device &&
      cached->ranges == ranges) {
    return cached;
  }
  cached.reset();  // free the old codes before building new ones
  auto codes = std::make_shared<SketchCodes>();
  codes->seed = config.sketch_seed;
  codes->size = config.sketch_size;
  codes->device = device;
  codes->ranges = ranges;
  for (const auto& [offset, numel] : ranges) codes->codes.push_back(make_codes(offset, numel, config, device));
  cached = codes;
  return cached;
}

}  // namespace

void DynamicsConfig::validate() const {
  if (sketch_size < 1 || sketch_size > (1 << 24)) {
    throw ConfigError(error_message("dynamics", "sketch size " + std::to_string(sketch_size) + " is outside [1, 16777216]"));
  }
}

std::vector<float> count_sketch_at(const std::vector<std::pair<uint64_t, torch::Tensor>>& placed, const DynamicsConfig& config) {
  config.validate();
  std::vector<std::pair<uint64_t, int64_t>> ranges;
  std::vector<torch::Tensor> grads;
  for (const auto& [offset, grad] : placed) {
    if (!grad.defined()) continue;
    ranges.emplace_back(offset, grad.numel());
    grads.push_back(grad.detach().reshape({-1}));  // [n]
  }
  if (grads.empty()) return std::vector<float>(static_cast<std::size_t>(config.sketch_size), 0.0f);
  const torch::Device device = grads.front().device();
  int64_t total = 0;
  for (const auto& range : ranges) total += range.second;
  const auto codes = total <= kMaxCachedCodes ? sketch_codes(ranges, config, device) : nullptr;
  auto sketch = torch::zeros({config.sketch_size}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
  for (std::size_t k = 0; k < grads.size(); ++k) {
    const auto& grad = grads[k];
    TORCH_CHECK(grad.device() == device, "count_sketch: gradients on different devices");
    for (int64_t start = 0; start < grad.numel(); start += kChunk) {
      const int64_t len = std::min(kChunk, grad.numel() - start);
      auto code = codes ? codes->codes[k].narrow(0, start, len)  // [len] int32
                        : make_codes(ranges[k].first + static_cast<uint64_t>(start), len, config, device);
      auto bucket = code.abs().to(torch::kInt64) - 1;     // [len]
      auto value = grad.narrow(0, start, len).to(torch::kFloat64) * code.sign().to(torch::kFloat64);
      sketch.index_add_(0, bucket, value);
    }
  }
  auto cpu = sketch.to(torch::kCPU).to(torch::kFloat32).contiguous();
  return std::vector<float>(cpu.data_ptr<float>(), cpu.data_ptr<float>() + cpu.numel());
}

SketchCoordinate sketch_coordinate(uint64_t index, const DynamicsConfig& config) {
  config.validate();
  const int32_t code = sketch_code(sketch_key(config.sketch_seed), static_cast<uint64_t>(config.sketch_size), index);
  SketchCoordinate c;
  c.bucket = (code < 0 ? -code : code) - 1;
  c.sign = code < 0 ? -1 : 1;
  return c;
}

std::vector<float> count_sketch(const std::vector<torch::Tensor>& grads, const DynamicsConfig& config) {
  std::vector<std::pair<uint64_t, torch::Tensor>> placed;
  uint64_t offset = 0;
  for (std::size_t k = 0; k < grads.size(); ++k) {
    if (!grads[k].defined()) throw DataError(error_message("count_sketch", "gradient " + std::to_string(k) + " is undefined"));
    placed.emplace_back(offset, grads[k]);
    offset += static_cast<uint64_t>(grads[k].numel());
  }
  return count_sketch_at(placed, config);
}

}  // namespace privprobe
