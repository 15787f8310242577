// Fixtures for the inference tests (torch-free declarations, so torch-free tests can use them).
#pragma once

#include <filesystem>
#include <string>

namespace privprobe::test {

// A random checkpoint of a tiny LLaVA (32 px images in 4 patches, 2 vision and 2 language layers
// of width 16) with a character-level tokenizer, written to `folder`.
void write_tiny_checkpoint(const std::filesystem::path& folder, int seed = 3);

// A paired probe set of `groups` base images (200 x 120 PNGs, text watermarks) under dir/name;
// returns the path of its probeset.json.
std::filesystem::path write_tiny_probeset(const std::filesystem::path& dir, int groups, const std::string& name = "probeset");

}  // namespace privprobe::test
