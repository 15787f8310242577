// LLaVA's conversation format: a JSON array of samples
//   {"id": "...", "image": "rel/path.jpg", "conversations": [
//      {"from": "human", "value": "<image>\nWhat colour is the circle?"},
//      {"from": "gpt", "value": "Red"}, ...]}
// `image` is relative to an image root and may be absent (text-only sample). Unknown fields are
// kept so a rewritten file loses nothing.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace privprobe {

struct Turn {
  std::string from;   // "human" or "gpt" (LLaVA also uses "system" occasionally)
  std::string value;
  nlohmann::json extra = nlohmann::json::object();  // other fields of the turn, kept verbatim
};

struct LlavaSample {
  // Stored as a string. An integer id in the input is also kept in extra["id"] and written back
  // as that integer while `id` still matches it, so a round trip preserves the type.
  std::string id;
  std::optional<std::string> image;
  std::vector<Turn> conversations;
  nlohmann::json extra = nlohmann::json::object();  // every other field, kept verbatim
};

inline constexpr const char* kImageToken = "<image>";

// Reads and validates a LLaVA JSON file. Throws FormatError (not JSON, not an array) or DataError
// naming the file and the sample index (0-based) for a malformed sample (not an object, missing,
// empty or non-array conversations, a turn without string from/value, a non-string image, an id
// that is neither a string nor an integer). A sample without `id` gets its index as id. Image
// paths are not resolved here (see resolve_under).
std::vector<LlavaSample> load_llava_json(const std::filesystem::path& path);

nlohmann::json to_json(const LlavaSample& sample);
// Writes atomically, 2-space indented.
void write_llava_json(const std::filesystem::path& path, const std::vector<LlavaSample>& samples);

}  // namespace privprobe
