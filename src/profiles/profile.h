// A private profile: a synthetic person whose details are drawn onto images as a watermark.
// The on-disk format is JSONL, one profile a line, with the fields of the paper's files
// (username, user_id, gender, age, capture_time, capture_location) plus `id`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace privprobe {

// The six fields the paper draws, in its order.
inline const std::vector<std::string> kProfileFields = {"username", "user_id", "gender", "age", "capture_time",
                                                        "capture_location"};

struct Profile {
  std::string id;        // unique within its set; files without `id` get their 1-based line number
  std::string username;  // display name, e.g. "Sophia Chen"
  std::int64_t user_id = 0;  // 10 digits
  std::string gender;
  int age = 0;
  std::string capture_time;      // "YYYY-MM-DD hh:mm:ss"
  std::string capture_location;  // "City, Country"

  // The field as drawn on an image ("user_id" -> "5374982160"). Throws ConfigError for an
  // unknown field name.
  std::string field(const std::string& name) const;
};

struct ProfileSet {
  std::filesystem::path source;
  std::vector<Profile> profiles;
  std::vector<std::string> warnings;  // e.g. duplicate usernames in the paper's privacy2.jsonl
};

// Reads a profile JSONL file. Accepts the paper's files as they are (no `id`, integer user_id,
// duplicates reported as warnings). Missing fields or wrong types: DataError with file and line.
ProfileSet load_profiles(const std::filesystem::path& path);

// Writes profiles as JSONL (atomically), one compact object a line with keys in a fixed order.
void write_profiles(const std::filesystem::path& path, const std::vector<Profile>& profiles);

}  // namespace privprobe
