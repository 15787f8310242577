#include "io/sharded_safetensors.h"

#include <cstdio>
#include <regex>
#include <set>

#include "io/strict_json.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_io.h"
#include "util/paths.h"

namespace fs = std::filesystem;

namespace privprobe {
namespace {

// Real indexes are a few hundred kilobytes; this only stops a hostile file from being read whole.
constexpr std::uintmax_t kIndexMaxBytes = 100'000'000;
// Root > "metadata" > free-form values: allow some depth for metadata, far below anything costly.
constexpr std::size_t kIndexMaxDepth = 16;

void check_shard_name(const std::string& shard, const std::string& where) {
  const bool bad = shard.empty() || shard == "." || shard == ".." || shard.find('/') != std::string::npos ||
                   shard.find('\\') != std::string::npos || shard.find('\0') != std::string::npos;
  if (bad) {
    throw FormatError(error_message(where, "shard name '" + shard + "' is not a plain file name",
                                    "shards must sit beside the index"));
  }
}

bool is_shard_file_name(const std::string& name) {
  static const std::regex pattern(R"(model-[0-9]{5,}-of-[0-9]{5,}\.safetensors)");
  return std::regex_match(name, pattern);
}

void remove_if_present(const fs::path& path) {
  std::error_code ec;
  fs::remove(path, ec);
  if (ec) throw IoError(error_message(path.string(), "cannot remove stale weight file: " + ec.message()));
}

}  // namespace

std::string shard_file_name(std::size_t index, std::size_t count) {
  char name[64];
  std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", index, count);
  return name;
}

ShardedSafetensors ShardedSafetensors::open_file(const fs::path& path, MapAccess access) {
  ShardedSafetensors result;
  result.source_ = path;
  result.files_.emplace_back(path, access);
  const auto& tensors = result.files_[0].tensors();
  for (std::size_t i = 0; i < tensors.size(); ++i) result.locations_.emplace(tensors[i].name, Location{0, i});
  return result;
}

ShardedSafetensors ShardedSafetensors::open_index(const fs::path& index_path, MapAccess access) {
  const std::string where = index_path.string();
  require_file(index_path, "safetensors index");
  std::error_code ec;
  const std::uintmax_t index_size = fs::file_size(index_path, ec);
  if (!ec && index_size > kIndexMaxBytes) {
    throw FormatError(error_message(where, "index is " + std::to_string(index_size) + " bytes, over the limit of " +
                                               std::to_string(kIndexMaxBytes)));
  }
  const nlohmann::ordered_json index = parse_json_strict(read_file(index_path), where, kIndexMaxDepth);
  if (!index.is_object()) {
    throw FormatError(error_message(where, std::string("index must be a JSON object, got ") + index.type_name()));
  }
  if (!index.contains("weight_map")) throw FormatError(error_message(where, "missing field 'weight_map'"));
  const auto& weight_map = index.at("weight_map");
  if (!weight_map.is_object()) {
    throw FormatError(error_message(where, std::string("'weight_map' must be an object, got ") + weight_map.type_name()));
  }
  if (weight_map.empty()) throw FormatError(error_message(where, "'weight_map' lists no tensors"));

  ShardedSafetensors result;
  result.source_ = index_path;
  result.sharded_ = true;
  if (index.contains("metadata")) {
    const auto& metadata = index.at("metadata");
    if (!metadata.is_object()) {
      throw FormatError(error_message(where, std::string("'metadata' must be an object, got ") + metadata.type_name()));
    }
    result.index_metadata_ = nlohmann::json::parse(metadata.dump());  // ordered -> plain json
  }

  // Shard names first, all checked before any is opened.
  std::map<std::string, std::size_t> shard_position;
  for (const auto& item : weight_map.items()) {
    if (!item.value().is_string()) {
      throw FormatError(error_message(where, "'weight_map' entry for tensor '" + item.key() + "' must be a string, got " +
                                                 item.value().type_name()));
    }
    const std::string& shard = item.value().get_ref<const std::string&>();
    check_shard_name(shard, where + ": tensor '" + item.key() + "'");
    shard_position.emplace(shard, 0);
  }
  const fs::path folder = index_path.parent_path();
  for (auto& [shard, position] : shard_position) {
    const fs::path shard_path = folder / shard;
    if (!fs::is_regular_file(shard_path, ec)) {
      throw IoError(error_message(where, "the index names shard '" + shard + "', which does not exist in " +
                                             (folder.empty() ? std::string(".") : folder.string()),
                                  "the checkpoint is incomplete: copy or download every shard"));
    }
    position = result.files_.size();
    result.files_.emplace_back(shard_path, access);
  }

  // The index and the shards must agree both ways.
  for (const auto& item : weight_map.items()) {
    const std::string& shard = item.value().get_ref<const std::string&>();
    const std::size_t file = shard_position.at(shard);
    const TensorInfo* info = result.files_[file].find(item.key());
    if (info == nullptr) {
      throw FormatError(error_message(where, "tensor '" + item.key() + "' is mapped to shard '" + shard +
                                                 "', which does not hold it"));
    }
    const auto position = static_cast<std::size_t>(info - result.files_[file].tensors().data());
    result.locations_.emplace(item.key(), Location{file, position});
  }
  for (const auto& [shard, file] : shard_position) {
    for (const TensorInfo& info : result.files_[file].tensors()) {
      const auto it = result.locations_.find(info.name);
      if (it == result.locations_.end() || it->second.file != file) {
        throw FormatError(error_message(
            where, "shard '" + shard + "' holds tensor '" + info.name + "', which the index " +
                       (it == result.locations_.end() ? std::string("does not list")
                                                      : "maps to shard '" + result.files_[it->second.file].path().filename().string() + "'")));
      }
    }
  }
  return result;
}

std::vector<std::string> ShardedSafetensors::names() const {
  std::vector<std::string> names;
  names.reserve(locations_.size());
  for (const auto& item : locations_) names.push_back(item.first);
  return names;
}

std::optional<TensorRef> ShardedSafetensors::find(std::string_view name) const {
  const auto it = locations_.find(name);
  if (it == locations_.end()) return std::nullopt;
  const SafetensorsFile& file = files_[it->second.file];
  return TensorRef{&file, &file.tensors()[it->second.tensor]};
}

TensorRef ShardedSafetensors::at(std::string_view name) const {
  const auto ref = find(name);
  if (!ref) throw DataError(error_message(source_.string(), "no tensor named '" + std::string(name) + "'"));
  return *ref;
}

ShardedSafetensors open_checkpoint_weights(const fs::path& folder, MapAccess access) {
  require_folder(folder, "checkpoint folder");
  std::error_code ec;
  const fs::path single = folder / std::string(kSafetensorsSingleFileName);
  if (fs::exists(single, ec)) return ShardedSafetensors::open_file(single, access);
  const fs::path index = folder / std::string(kSafetensorsIndexFileName);
  if (fs::exists(index, ec)) return ShardedSafetensors::open_index(index, access);
  throw IoError(error_message(folder.string(), "no model.safetensors or model.safetensors.index.json in the folder",
                              "is this a Hugging Face checkpoint saved with safetensors?"));
}

std::vector<std::string> write_sharded_safetensors(const fs::path& folder, const std::vector<TensorToWrite>& tensors,
                                                   std::uint64_t max_shard_bytes, const SafetensorsMetadata& metadata) {
  if (max_shard_bytes == 0) throw DataError(error_message(folder.string(), "shard size limit must be positive"));
  SafetensorsMetadata shard_metadata = metadata;
  shard_metadata.emplace("format", "pt");

  // Everything is checked before the first file is written, so a bad tensor cannot leave a
  // half-written set of shards behind.
  build_safetensors_header(plan_safetensors_layout(tensors, folder.string()), shard_metadata, folder.string());

  // Split in the order given.
  std::vector<std::vector<TensorToWrite>> shards(1);
  std::uint64_t shard_bytes = 0;
  std::uint64_t total_bytes = 0;
  for (const TensorToWrite& t : tensors) {
    if (!shards.back().empty() && shard_bytes + t.size > max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(t);
    shard_bytes += t.size;
    total_bytes += t.size;
  }

  std::vector<std::string> written;
  if (shards.size() == 1) {
    write_safetensors(folder / std::string(kSafetensorsSingleFileName), shards[0], shard_metadata);
    written.emplace_back(kSafetensorsSingleFileName);
  } else {
    nlohmann::json weight_map = nlohmann::json::object();
    for (std::size_t i = 0; i < shards.size(); ++i) {
      const std::string name = shard_file_name(i + 1, shards.size());
      write_safetensors(folder / name, shards[i], shard_metadata);
      for (const TensorToWrite& t : shards[i]) weight_map[t.name] = name;
      written.push_back(name);
    }
    const nlohmann::json index = {{"metadata", {{"total_size", total_bytes}}}, {"weight_map", weight_map}};
    write_json_atomic(folder / std::string(kSafetensorsIndexFileName), index);
    written.emplace_back(kSafetensorsIndexFileName);
  }

  // Only now, with the new set complete, remove what an earlier save left behind.
  const std::set<std::string> keep(written.begin(), written.end());
  std::vector<fs::path> stale;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    const std::string name = entry.path().filename().string();
    const bool weight_file = name == kSafetensorsSingleFileName || name == kSafetensorsIndexFileName ||
                             is_shard_file_name(name);
    if (weight_file && keep.count(name) == 0) stale.push_back(entry.path());
  }
  if (ec) throw IoError(error_message(folder.string(), "cannot list folder: " + ec.message()));
  for (const fs::path& path : stale) remove_if_present(path);
  return written;
}

}  // namespace privprobe
