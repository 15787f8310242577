#include "util/json_io.h"

#include <sstream>

#include "util/atomic_file.h"
#include "util/error.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace privprobe {

json read_json(const fs::path& path) {
  const std::string text = read_file(path);
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    throw FormatError(error_message(path.string(), std::string("not valid JSON: ") + e.what()));
  }
}

void for_each_jsonl(const fs::path& path, const std::function<void(std::size_t, const json&)>& fn) {
  const std::string text = read_file(path);
  std::size_t line_number = 0;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    ++line_number;
    std::string_view line(text.data() + pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const bool blank = line.find_first_not_of(" \t") == std::string_view::npos;
    if (!blank) {
      json value;
      try {
        value = json::parse(line);
      } catch (const json::parse_error& e) {
        throw FormatError(error_message(path.string() + ", line " + std::to_string(line_number),
                                        std::string("not valid JSON: ") + e.what()));
      }
      fn(line_number, value);
    }
    if (end == text.size()) break;
    pos = end + 1;
  }
}

void write_json_atomic(const fs::path& path, const json& value) {
  write_file_atomic(path, value.dump(2) + "\n");
}

std::string to_json_line(const json& value) { return value.dump(); }

const json& require_field(const json& object, const std::string& key, const std::string& where) {
  if (!object.is_object()) throw DataError(error_message(where, "expected a JSON object"));
  auto it = object.find(key);
  if (it == object.end()) throw DataError(error_message(where, "missing field '" + key + "'"));
  return *it;
}

std::string require_string(const json& object, const std::string& key, const std::string& where) {
  const json& v = require_field(object, key, where);
  if (!v.is_string()) throw DataError(error_message(where, "field '" + key + "' must be a string, got " + v.type_name()));
  return v.get<std::string>();
}

std::int64_t require_int(const json& object, const std::string& key, const std::string& where) {
  const json& v = require_field(object, key, where);
  if (!v.is_number_integer()) {
    throw DataError(error_message(where, "field '" + key + "' must be an integer, got " + std::string(v.type_name())));
  }
  return v.get<std::int64_t>();
}

}  // namespace privprobe
