// What `extract` writes beside the probe set's activations, and `privprobe merge`:
//
//   FILE.safetensors  states [N, L+1, D] F32, vision_states [N, Lv+1, Dv] F32 (--vision),
//                     labels [N] I64, groups [N] I64, profiles [N] I64 (every tensor has the sample
//                     dimension first)
//   FILE.json         the run's header (checkpoint, probe set, position, question, template, dtype,
//                     batch size, state names, ...) and `samples`, one object a line, in order;
//                     a shard also has "shard": {"index", "count", "begin", "end"}
//
// --shard i/N (i from 1 to N) takes the i-th of N contiguous slices. Slices are cut at batch
// boundaries (global batches of --batch-size), so every batch is computed exactly as in an
// unsharded run and merging the shards gives the unsharded files bit for bit.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/atomic_file.h"

namespace privprobe {

struct ShardSpec {
  int index = 0;  // 1-based; 0 when not sharded
  int count = 0;

  // "" -> not sharded; "i/N" with 1 <= i <= N. Throws ConfigError naming --shard.
  static ShardSpec parse(const std::string& text);
  bool active() const { return count > 0; }
  std::string to_string() const { return std::to_string(index) + "/" + std::to_string(count); }
};

struct SampleRange {
  std::int64_t begin = 0;
  std::int64_t end = 0;
  std::int64_t size() const { return end - begin; }
};

// The samples of a shard of `samples` in batches of batch_size (all of them when not sharded).
// Throws ConfigError when there are more shards than batches (a shard would be empty).
SampleRange shard_range(const ShardSpec& shard, std::int64_t samples, std::int64_t batch_size);

// FILE.json beside FILE.safetensors (the extension replaced).
std::filesystem::path activation_metadata_path(const std::filesystem::path& activations);

// Streams FILE.json: the header object's keys (2-space indented, sorted), then "samples" with one
// compact object a line, so memory does not grow with the number of samples. Atomic: nothing
// appears under the final name before finish().
class ActivationMetadataWriter {
 public:
  ActivationMetadataWriter(const std::filesystem::path& path, const nlohmann::json& header);
  void add_sample(const nlohmann::json& sample);
  void finish();

 private:
  AtomicFile file_;
  bool first_ = true;
};

struct MergeConfig {
  std::filesystem::path out;                  // OUT.safetensors (OUT.json is written beside it)
  std::vector<std::filesystem::path> shards;  // in any order
};

struct MergeResult {
  std::int64_t samples = 0;
  std::size_t shards = 0;
};

// Checks that the files are all N shards of one run (same header apart from paths, indices 1..N
// once each, consecutive ranges covering every sample, matching tensors) and joins them, streaming.
// Throws ConfigError (usage), IoError (a missing file), FormatError (malformed) or DataError (not
// shards of one run), each naming the file.
MergeResult run_merge(const MergeConfig& config);

}  // namespace privprobe
