// JSON and JSONL reading with errors that name the file (and line), and atomic JSON writing.
// Every JSON document privprobe writes carries "format_version".
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace privprobe {

inline constexpr int kFormatVersion = 1;

// Parses a JSON file. Throws IoError (cannot read) or FormatError (file and byte position).
nlohmann::json read_json(const std::filesystem::path& path);

// Calls fn(line_number, value) for each non-blank line (1-based numbers). Throws FormatError
// naming file and line for a line that is not JSON.
void for_each_jsonl(const std::filesystem::path& path,
                    const std::function<void(std::size_t, const nlohmann::json&)>& fn);

// Serialises with 2-space indent and a final newline, atomically.
void write_json_atomic(const std::filesystem::path& path, const nlohmann::json& value);

// Compact one-line serialisation (for JSONL rows); keys in sorted order.
std::string to_json_line(const nlohmann::json& value);

// Typed field access with errors naming where: "file, line 3: field 'age' ...".
const nlohmann::json& require_field(const nlohmann::json& object, const std::string& key, const std::string& where);
std::string require_string(const nlohmann::json& object, const std::string& key, const std::string& where);
std::int64_t require_int(const nlohmann::json& object, const std::string& key, const std::string& where);

}  // namespace privprobe
