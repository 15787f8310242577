// Reading and writing profile sets (JSONL). Reading is lenient where the paper's own files need it
// (no `id`, integer user_id, duplicate names) and strict about everything a watermark would draw.
#include "profiles/profile.h"

#include <cctype>
#include <limits>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "profiles/profile_format.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_io.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace privprobe {

std::string Profile::field(const std::string& name) const {
  if (name == "username") return username;
  if (name == "user_id") return std::to_string(user_id);
  if (name == "gender") return gender;
  if (name == "age") return std::to_string(age);
  if (name == "capture_time") return capture_time;
  if (name == "capture_location") return capture_location;
  throw ConfigError(error_message("profile field '" + name + "'", "unknown field",
                                  "one of username, user_id, gender, age, capture_time, capture_location"));
}

namespace {

// A string that is drawn as one line of text: non-empty, no control characters.
std::string require_text(const json& row, const std::string& key, const std::string& where) {
  std::string value = require_string(row, key, where);
  if (value.empty()) throw DataError(error_message(where, "field '" + key + "' is empty"));
  for (unsigned char ch : value) {
    if (ch < 0x20 || ch == 0x7f) {
      throw DataError(error_message(where, "field '" + key + "' contains a control character"));
    }
  }
  return value;
}

// user_id: a non-negative integer, or a string of digits (some exports quote large numbers).
std::int64_t read_user_id(const json& row, const std::string& where) {
  const json& v = require_field(row, "user_id", where);
  if (v.is_number_unsigned()) {
    if (v.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      throw DataError(error_message(where, "field 'user_id' is too large"));
    }
    return static_cast<std::int64_t>(v.get<std::uint64_t>());
  }
  if (v.is_number_integer()) {
    const std::int64_t id = v.get<std::int64_t>();
    if (id < 0) throw DataError(error_message(where, "field 'user_id' is negative"));
    return id;
  }
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    bool digits = !s.empty() && s.size() <= 18;
    for (char ch : s) digits = digits && std::isdigit(static_cast<unsigned char>(ch));
    if (!digits) {
      throw DataError(error_message(where, "field 'user_id' must be an integer or a string of at most 18 digits, got \"" +
                                               s + "\""));
    }
    // The profile stores a number, so a leading zero would be silently lost on the image.
    if (s.size() > 1 && s[0] == '0') {
      throw DataError(error_message(where, "field 'user_id' \"" + s + "\" has a leading zero",
                                    "user ids are stored as numbers; drop the zero"));
    }
    return std::stoll(s);
  }
  throw DataError(error_message(where, std::string("field 'user_id' must be an integer, got ") + v.type_name()));
}

std::string read_id(const json& row, std::size_t line, const std::string& where) {
  auto it = row.find("id");
  if (it == row.end()) return std::to_string(line);
  if (it->is_string()) {
    std::string id = it->get<std::string>();
    if (id.empty()) throw DataError(error_message(where, "field 'id' is empty"));
    return id;
  }
  if (it->is_number_integer()) return it->dump();
  throw DataError(error_message(where, std::string("field 'id' must be a string or an integer, got ") + it->type_name()));
}

Profile parse_profile(const json& row, std::size_t line, const std::string& where) {
  if (!row.is_object()) throw DataError(error_message(where, std::string("expected a JSON object, got ") + row.type_name()));
  Profile p;
  p.id = read_id(row, line, where);
  p.username = require_text(row, "username", where);
  p.user_id = read_user_id(row, where);
  p.gender = require_text(row, "gender", where);
  const std::int64_t age = require_int(row, "age", where);
  if (age < 0 || age > 150) throw DataError(error_message(where, "field 'age' is " + std::to_string(age) + ", outside 0..150"));
  p.age = static_cast<int>(age);
  p.capture_time = require_text(row, "capture_time", where);
  if (!is_valid_capture_time(p.capture_time)) {
    throw DataError(error_message(where, "field 'capture_time' \"" + p.capture_time + "\" is not a valid date and time",
                                  "expected YYYY-MM-DD hh:mm:ss"));
  }
  p.capture_location = require_text(row, "capture_location", where);
  return p;
}

void warn_duplicate(ProfileSet& set, const std::string& what) {
  set.warnings.push_back(set.source.string() + ": " + what);
  spdlog::warn("{}", set.warnings.back());
}

}  // namespace

ProfileSet load_profiles(const fs::path& path) {
  ProfileSet set;
  set.source = path;
  std::map<std::string, std::size_t> id_lines;
  std::map<std::string, std::size_t> username_lines;  // lower-cased username -> first line
  std::map<std::int64_t, std::size_t> user_id_lines;
  for_each_jsonl(path, [&](std::size_t line, const json& row) {
    const std::string where = path.string() + ", line " + std::to_string(line);
    Profile p = parse_profile(row, line, where);
    if (auto [it, fresh] = id_lines.emplace(p.id, line); !fresh) {
      throw DataError(error_message(where, "duplicate id '" + p.id + "' (first on line " + std::to_string(it->second) + ")"));
    }
    if (auto [it, fresh] = username_lines.emplace(username_key(p.username), line); !fresh) {
      warn_duplicate(set, "username '" + p.username + "' on line " + std::to_string(line) + " repeats line " +
                              std::to_string(it->second));
    }
    if (auto [it, fresh] = user_id_lines.emplace(p.user_id, line); !fresh) {
      warn_duplicate(set, "user_id " + std::to_string(p.user_id) + " on line " + std::to_string(line) +
                              " repeats line " + std::to_string(it->second));
    }
    set.profiles.push_back(std::move(p));
  });
  if (set.profiles.empty()) throw DataError(error_message(path.string(), "no profiles (the file is empty)"));
  return set;
}

void write_profiles(const fs::path& path, const std::vector<Profile>& profiles) {
  std::ostringstream out;
  for (const Profile& p : profiles) {
    nlohmann::ordered_json row;  // keys in the paper's order, id first
    row["id"] = p.id;
    row["username"] = p.username;
    row["user_id"] = p.user_id;
    row["gender"] = p.gender;
    row["age"] = p.age;
    row["capture_time"] = p.capture_time;
    row["capture_location"] = p.capture_location;
    out << row.dump() << '\n';
  }
  write_file_atomic(path, out.str());
}

}  // namespace privprobe
