// A cheap identity of a checkpoint folder, recorded by extract so `merge` can tell shards of one
// run from shards of different models without hashing gigabytes of weights.
#pragma once

#include <filesystem>
#include <string>

namespace privprobe {

// SHA-256 over the folder's small files (config.json, privprobe.json, preprocessor and tokenizer
// files, the weights index) and, for each *.safetensors file, its name, size and header (tensor
// names, dtypes, shapes, offsets). Two fine-tunes of one architecture differ in privprobe.json
// (seed, data, parent); two foreign checkpoints of one architecture may not be told apart.
// Throws IoError naming an unreadable file.
std::string checkpoint_fingerprint(const std::filesystem::path& folder);

}  // namespace privprobe
