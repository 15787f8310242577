#include "probeset/probeset_sources.h"

#include <algorithm>

#include "embed/embed.h"
#include "embed/embed_inputs.h"
#include "embed/manifest.h"
#include "util/error.h"
#include "util/json_io.h"
#include "util/parallel.h"
#include "util/rng.h"
#include "util/sha256.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace privprobe {
namespace {

std::string normalised(const fs::path& path) {
  std::error_code ec;
  const fs::path absolute = fs::absolute(path, ec);
  return (ec ? path : absolute).lexically_normal().generic_string();
}

// The embed run's input root from embed_config.json beside the manifest; empty when unknown.
fs::path embed_image_root(const fs::path& manifest) {
  const fs::path config = manifest.parent_path() / kEmbedConfigFile;
  std::error_code ec;
  if (!fs::is_regular_file(config, ec)) return {};
  const json j = read_json(config);
  if (j.is_object() && j.contains("config") && j["config"].is_object() && j["config"].contains("image_root") &&
      j["config"]["image_root"].is_string()) {
    return fs::path(j["config"]["image_root"].get<std::string>());
  }
  return {};
}

}  // namespace

TrainingImages TrainingImages::load(const fs::path& manifest) {
  TrainingImages training;
  training.manifest_ = manifest;
  const fs::path root = embed_image_root(manifest);
  for (const ManifestRow& row : load_manifest(manifest)) {
    if (!row.source_sha256.empty()) training.by_sha256_.emplace(row.source_sha256, row.source);
    if (!root.empty()) training.by_path_.emplace(normalised(root / fs::path(row.source)), row.source);
    if (!row.output.empty()) training.by_path_.emplace(normalised(manifest.parent_path() / fs::path(row.output)), row.source);
  }
  return training;
}

std::string TrainingImages::match(const fs::path& path, const std::string& sha256) const {
  if (auto it = by_sha256_.find(sha256); it != by_sha256_.end()) return it->second;
  if (auto it = by_path_.find(normalised(path)); it != by_path_.end()) return it->second;
  return {};
}

std::vector<BaseImage> gather_base_images(const ProbesetConfig& config) {
  // embed's input gathering: the same path checks and the same notion of "an image of the set".
  EmbedConfig gather;
  gather.data = config.data;
  gather.image_root = config.image_root;
  gather.images = config.images;
  gather.on_error = OnError::kFail;
  const EmbedInputs inputs = gather_embed_inputs(gather);
  std::vector<BaseImage> images;
  images.reserve(inputs.items.size());
  for (const EmbedItem& item : inputs.items) images.push_back({item.source, item.path});

  if (!config.exclude_manifest.empty()) {
    const TrainingImages training = TrainingImages::load(config.exclude_manifest);
    std::vector<std::string> hit(images.size());
    parallel_for(images.size(), config.jobs, [&](std::size_t i) {
      hit[i] = training.match(images[i].path, sha256_file(images[i].path));
    });
    for (std::size_t i = 0; i < images.size(); ++i) {
      if (hit[i].empty()) continue;
      throw DataError(error_message(images[i].path.string(),
                                    "this image was used in training: it is source '" + hit[i] + "' of " +
                                        config.exclude_manifest.string(),
                                    "a probe set must be built from held-out images (e.g. synth's test.json)"));
    }
  }
  return images;
}

std::vector<BaseImage> select_base_images(std::vector<BaseImage> images, std::size_t count, std::uint64_t seed) {
  if (count == 0 || count >= images.size()) return images;
  Rng rng(derive_seed(seed, "probeset/select"));
  rng.shuffle(images);
  images.resize(count);
  std::sort(images.begin(), images.end(), [](const BaseImage& a, const BaseImage& b) { return a.source < b.source; });
  return images;
}

}  // namespace privprobe
