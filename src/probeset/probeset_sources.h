// The base images of a probe set: held-out images from a LLaVA JSON or a folder, none of which a
// training run used. A training image is recognised by its content (the manifest records each
// source's SHA-256) and by its path (the manifest's sources under the embed run's image root, and
// its outputs under the manifest's folder), so a copy or the watermarked output is caught too.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "probeset/probeset.h"

namespace privprobe {

struct BaseImage {
  std::string source;          // relative to the input root, '/' separators
  std::filesystem::path path;  // root / source
};

class TrainingImages {
 public:
  // Reads manifest.jsonl and, when present, embed_config.json beside it (for the image root).
  // Throws IoError / FormatError / DataError naming the file.
  static TrainingImages load(const std::filesystem::path& manifest);

  // The manifest row's source when the image is a training image (same content or same file),
  // else empty.
  std::string match(const std::filesystem::path& path, const std::string& sha256) const;

  const std::filesystem::path& manifest() const { return manifest_; }

 private:
  std::filesystem::path manifest_;
  std::map<std::string, std::string> by_sha256_;  // content hash -> source
  std::map<std::string, std::string> by_path_;    // absolute normalised path -> source
};

// Every image the data file references (or the folder holds), sorted by source. Missing images
// or paths escaping the root throw (IoError / DataError naming the JSON and sample). With an
// exclusion manifest, a training image among them throws DataError naming the image and the manifest.
std::vector<BaseImage> gather_base_images(const ProbesetConfig& config);

// count images (0 or more than available: all) chosen with the seed, in source order.
std::vector<BaseImage> select_base_images(std::vector<BaseImage> images, std::size_t count, std::uint64_t seed);

}  // namespace privprobe
