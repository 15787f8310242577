// Reading probeset.json (the writer is run_probeset). Everything in the file is untrusted: paths
// must stay inside the probe set's folder and every sample must agree with the profile lists.
#include <set>

#include "probeset/probeset.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_io.h"
#include "util/paths.h"
#include "util/sha256.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace privprobe {
namespace {

std::vector<ProbeProfile> read_profiles(const json& profiles, const char* key, const std::string& where) {
  const json& list = require_field(profiles, key, where);
  if (!list.is_array()) throw DataError(error_message(where, std::string("'profiles.") + key + "' must be an array"));
  std::vector<ProbeProfile> out;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string at = where + ", profiles." + key + "[" + std::to_string(i) + "]";
    out.push_back({require_string(list[i], "id", at), require_string(list[i], "username", at)});
  }
  return out;
}

void require_image(const fs::path& path, const std::string& where) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    throw IoError(error_message(path.string(), fs::exists(path, ec) ? "is not a regular file" : "image not found",
                                "referenced by " + where));
  }
}

ProbeSample read_sample(const json& value, std::size_t index, const ProbeSet& set, const fs::path& folder,
                        bool check_images) {
  const std::string where = set.file.string() + ", sample " + std::to_string(index);
  ProbeSample s;
  s.image = require_string(value, "image", where);
  s.clean_image = require_string(value, "clean_image", where);
  s.image_path = resolve_under(folder, s.image, where);
  s.clean_path = resolve_under(folder, s.clean_image, where);
  const std::int64_t label = require_int(value, "label", where);
  if (label != 0 && label != 1) {
    throw DataError(error_message(where, "label must be 1 (seen) or 0 (unseen), got " + std::to_string(label)));
  }
  s.label = static_cast<int>(label);
  s.profile = require_string(value, "profile", where);
  s.profile_index = require_int(value, "profile_index", where);
  s.username = require_string(value, "username", where);
  s.group = require_int(value, "group", where);
  if (value.contains("source") && value["source"].is_string()) s.source = value["source"].get<std::string>();

  // The label, the profile index and the username must tell the same story.
  const auto n_seen = static_cast<std::int64_t>(set.seen.size());
  const auto n_all = n_seen + static_cast<std::int64_t>(set.unseen.size());
  if (s.profile_index < 0 || s.profile_index >= n_all) {
    throw DataError(error_message(where, "profile_index " + std::to_string(s.profile_index) + " is outside [0, " +
                                             std::to_string(n_all) + ")"));
  }
  const bool in_seen = s.profile_index < n_seen;
  if (in_seen != (s.label == 1)) {
    throw DataError(error_message(where, "label " + std::to_string(s.label) + " disagrees with profile_index " +
                                             std::to_string(s.profile_index) + " (a " +
                                             (in_seen ? "seen" : "unseen") + " profile)"));
  }
  const ProbeProfile& p = in_seen ? set.seen[static_cast<std::size_t>(s.profile_index)]
                                  : set.unseen[static_cast<std::size_t>(s.profile_index - n_seen)];
  if (p.id != s.profile || p.username != s.username) {
    throw DataError(error_message(where, "profile '" + s.profile + "' / '" + s.username +
                                             "' disagrees with the profile list entry '" + p.id + "' / '" + p.username + "'"));
  }
  if (check_images) {
    require_image(s.image_path, where);
    require_image(s.clean_path, where);
  }
  return s;
}

}  // namespace

std::vector<std::string> ProbeSet::candidate_usernames() const {
  std::vector<std::string> names;
  std::set<std::string> known;
  for (const auto* list : {&seen, &unseen}) {
    for (const ProbeProfile& p : *list) {
      if (known.insert(p.username).second) names.push_back(p.username);
    }
  }
  return names;
}

ProbeSet load_probeset(const fs::path& path, bool check_images) {
  const std::string text = read_file(path);
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    throw FormatError(error_message(path.string(), std::string("not valid JSON: ") + e.what()));
  }
  const std::string where = path.string();
  if (!doc.is_object()) throw FormatError(error_message(where, "a probe set is a JSON object"));
  ProbeSet set;
  set.file = path;
  set.sha256 = sha256_hex(text);
  set.mode = doc.contains("mode") && doc["mode"].is_string() ? doc["mode"].get<std::string>() : "paired";
  set.question = require_string(doc, "question", where);
  if (set.question.empty()) throw DataError(error_message(where, "the question is empty"));
  const json& profiles = require_field(doc, "profiles", where);
  set.seen = read_profiles(profiles, "seen", where);
  set.unseen = read_profiles(profiles, "unseen", where);
  const json& samples = require_field(doc, "samples", where);
  if (!samples.is_array()) throw DataError(error_message(where, "'samples' must be an array"));
  if (samples.empty()) throw DataError(error_message(where, "the probe set has no samples"));
  const fs::path folder = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  set.samples.reserve(samples.size());
  for (std::size_t i = 0; i < samples.size(); ++i) set.samples.push_back(read_sample(samples[i], i, set, folder, check_images));
  return set;
}

}  // namespace privprobe
