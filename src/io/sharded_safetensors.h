// Checkpoint weights as Hugging Face stores them: one `model.safetensors`, or shards
// `model-00001-of-00003.safetensors`, ... listed by `model.safetensors.index.json`:
//
//   {"metadata": {"total_size": 123456}, "weight_map": {"tensor name": "shard file name", ...}}
//
// ShardedSafetensors reads either form and looks tensors up by name across shards. An index is
// checked strictly: shard names are plain file names in the index's folder (no '/', '\', '..');
// every shard exists (IoError naming the index and the shard); every tensor the map assigns to
// a shard is in that shard, and every tensor a shard holds is assigned to it (FormatError naming
// the index, the shard and the tensor); each shard passes the single-file checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "io/safetensors_writer.h"

namespace privprobe {

inline constexpr std::string_view kSafetensorsSingleFileName = "model.safetensors";
inline constexpr std::string_view kSafetensorsIndexFileName = "model.safetensors.index.json";

// A tensor located in one of the files.
struct TensorRef {
  const SafetensorsFile* file = nullptr;
  const TensorInfo* info = nullptr;
  ByteView data() const { return file->data(*info); }
};

class ShardedSafetensors {
 public:
  // Opens an index and all its shards. Throws IoError (index or a shard missing or unreadable)
  // or FormatError (malformed index or shard, or the two disagree).
  static ShardedSafetensors open_index(const std::filesystem::path& index_path,
                                       MapAccess access = MapAccess::kReadOnly);
  // One file, seen as a checkpoint of a single shard.
  static ShardedSafetensors open_file(const std::filesystem::path& path, MapAccess access = MapAccess::kReadOnly);

  // The index, or the single file.
  const std::filesystem::path& source() const { return source_; }
  bool is_sharded() const { return sharded_; }
  // Shards, sorted by file name.
  const std::vector<SafetensorsFile>& files() const { return files_; }
  // The index's "metadata" object ({} for a single file).
  const nlohmann::json& index_metadata() const { return index_metadata_; }

  std::size_t size() const { return locations_.size(); }
  // All tensor names, sorted.
  std::vector<std::string> names() const;
  std::optional<TensorRef> find(std::string_view name) const;
  // Throws DataError naming source() and the tensor when there is none.
  TensorRef at(std::string_view name) const;

 private:
  struct Location {
    std::size_t file = 0;    // position in files_
    std::size_t tensor = 0;  // position in that file's tensors()
  };

  std::filesystem::path source_;
  bool sharded_ = false;
  std::vector<SafetensorsFile> files_;
  nlohmann::json index_metadata_ = nlohmann::json::object();
  std::map<std::string, Location, std::less<>> locations_;
};

// A checkpoint folder's weights: `model.safetensors` if present (the order transformers uses),
// else `model.safetensors.index.json`. Throws IoError when the folder has neither.
ShardedSafetensors open_checkpoint_weights(const std::filesystem::path& folder, MapAccess access = MapAccess::kReadOnly);

// Writes tensors into folder as Hugging Face does: a single `model.safetensors` when their data
// fits in max_shard_bytes, else shards `model-0000i-of-0000n.safetensors` filled in the order
// given (a new shard starts when the next tensor would overflow the current one; a tensor larger
// than the limit gets a shard of its own) plus the index (weight_map sorted, "total_size" =
// data bytes). Every file is written atomically; the index last, so an index only ever names
// complete shards. Weight files of an earlier save that the new set does not use (a stale
// single file, index or shards) are removed afterwards. metadata goes into every shard, with
// "format": "pt" added when absent (transformers refuses weight files whose metadata lacks it).
// Returns the file names written, shards first. Throws DataError or IoError.
std::vector<std::string> write_sharded_safetensors(const std::filesystem::path& folder,
                                                   const std::vector<TensorToWrite>& tensors,
                                                   std::uint64_t max_shard_bytes,
                                                   const SafetensorsMetadata& metadata = {});

// "model-00002-of-00005.safetensors" for index 2 (1-based) of 5.
std::string shard_file_name(std::size_t index, std::size_t count);

}  // namespace privprobe
