#include "io/strict_json.h"

#include <unordered_set>
#include <vector>

#include "util/error.h"

namespace privprobe {
namespace {

// One open object or array while parsing.
struct Level {
  bool is_object = false;
  std::string last_key;  // the key whose value is being parsed (objects only)
  std::unordered_set<std::string> keys;
};

std::string describe_path(const std::vector<Level>& levels) {
  std::string path;
  for (std::size_t i = 0; i + 1 < levels.size(); ++i) {
    if (!levels[i].is_object) continue;
    if (!path.empty()) path += " > ";
    path += "'" + levels[i].last_key + "'";
  }
  return path;
}

}  // namespace

nlohmann::ordered_json parse_json_strict(std::string_view text, const std::string& where, std::size_t max_depth) {
  using Event = nlohmann::json::parse_event_t;
  std::vector<Level> levels;
  // The callback sees every key before its value; throwing from it unwinds the parser cleanly.
  const auto check = [&](int /*depth*/, Event event, nlohmann::ordered_json& parsed) -> bool {
    switch (event) {
      case Event::object_start:
      case Event::array_start:
        if (levels.size() >= max_depth) {
          throw FormatError(error_message(where, "JSON nested deeper than " + std::to_string(max_depth) +
                                                     " levels, which this file never needs"));
        }
        levels.push_back(Level{event == Event::object_start, {}, {}});
        break;
      case Event::object_end:
      case Event::array_end:
        if (!levels.empty()) levels.pop_back();
        break;
      case Event::key: {
        Level& level = levels.back();
        std::string key = parsed.get<std::string>();
        if (!level.keys.insert(key).second) {
          const std::string path = describe_path(levels);
          throw FormatError(error_message(where, "duplicate key '" + key + "'" +
                                                     (path.empty() ? std::string() : " inside " + path) +
                                                     " (JSON keys must be unique here)"));
        }
        level.last_key = std::move(key);
        break;
      }
      case Event::value:
        break;
    }
    return true;
  };
  // nlohmann stops at a NUL byte as if the input ended there, which would hide whatever follows;
  // a raw NUL is never valid JSON (inside strings it must be escaped), so refuse it outright.
  if (const auto nul = text.find('\0'); nul != std::string_view::npos) {
    throw FormatError(error_message(where, "not valid JSON: NUL byte at offset " + std::to_string(nul)));
  }
  try {
    return nlohmann::ordered_json::parse(text.begin(), text.end(), check);
  } catch (const nlohmann::json::parse_error& e) {
    throw FormatError(error_message(where, std::string("not valid JSON: ") + e.what()));
  }
}

}  // namespace privprobe
