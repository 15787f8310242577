// What `embed` works on: the unique images a LLaVA JSON references (or every image under a
// folder), each checked to be a path inside the image root that names an existing file.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "data/llava_json.h"
#include "embed/embed.h"

namespace privprobe {

struct EmbedItem {
  std::string source;          // relative to the root, normalised, '/' separators (the raw path when refused)
  std::filesystem::path path;  // root / source; empty when refused
  std::string error;           // set when refused or missing (only under --on-error skip)
};

struct EmbedInputs {
  std::filesystem::path root;
  std::vector<EmbedItem> items;  // sorted by source, one per image
  // With --data: the samples, and for each the index of its image's item (-1: text-only).
  std::vector<LlavaSample> samples;
  std::vector<long> sample_item;
};

// Under OnError::kFail a refused or missing image path throws (DataError / IoError, naming the
// JSON file and sample); under kSkip it becomes an item with `error` set.
EmbedInputs gather_embed_inputs(const EmbedConfig& config);

}  // namespace privprobe
