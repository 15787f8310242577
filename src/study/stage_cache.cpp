#include "study/stage_cache.h"

#include <system_error>

#include "util/error.h"
#include "util/json_io.h"
#include "util/log.h"
#include "util/sha256.h"
#include "util/version.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace privprobe {

std::string stage_key(const std::string& stage, const json& settings, const std::vector<std::string>& input_keys) {
  const json document = {{"stage", stage}, {"settings", settings}, {"inputs", input_keys}, {"version", version()}};
  return sha256_hex(document.dump());  // nlohmann objects keep their keys sorted: a stable serialisation
}

std::string stage_kind(const std::string& stage) {
  const auto colon = stage.find(':');
  return colon == std::string::npos ? stage : stage.substr(0, colon);
}

bool force_matches(const std::vector<std::string>& force, const std::string& stage) {
  for (const std::string& f : force) {
    if (f == "all" || f == stage || f == stage_kind(stage)) return true;
  }
  return false;
}

fs::path study_output_path(const fs::path& study, const std::string& relative) {
  const fs::path rel(relative);
  if (relative.empty() || rel.is_absolute()) {
    throw ConfigError(error_message(study.string(), "stage output '" + relative + "' is not a relative path"));
  }
  for (const auto& part : rel) {
    if (part == "..") throw ConfigError(error_message(study.string(), "stage output '" + relative + "' leaves the study folder"));
  }
  return study / rel;
}

StageCache::StageCache(fs::path study) : study_(std::move(study)) {}

fs::path StageCache::stamp_path(const std::string& stage) const { return study_ / "stages" / (stage + ".json"); }
fs::path StageCache::pending_path(const std::string& stage) const { return study_ / "stages" / (stage + ".pending.json"); }

std::optional<StageStamp> StageCache::read_stamp(const std::string& stage) const {
  const fs::path path = stamp_path(stage);
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  try {
    const json j = read_json(path);
    StageStamp stamp;
    stamp.stage = j.at("stage").get<std::string>();
    stamp.key = j.at("key").get<std::string>();
    stamp.outputs = j.at("outputs").get<std::vector<std::string>>();
    if (stamp.stage != stage) return std::nullopt;
    return stamp;
  } catch (const std::exception& e) {
    spdlog::warn("study: ignoring the unreadable stamp {} ({}); the stage runs again", path.string(), e.what());
    return std::nullopt;
  }
}

StageAction StageCache::decide(const std::string& stage, const std::string& key, const std::vector<std::string>& outputs,
                               bool forced, bool resumable) const {
  if (!forced) {
    if (const auto stamp = read_stamp(stage); stamp && stamp->key == key) {
      bool complete = true;
      std::error_code ec;
      for (const auto& output : outputs) complete = complete && fs::exists(study_output_path(study_, output), ec);
      if (complete) return StageAction::kSkip;
    }
  }
  if (!forced && resumable) {
    std::error_code ec;
    const fs::path pending = pending_path(stage);
    if (fs::is_regular_file(pending, ec)) {
      try {
        if (read_json(pending).value("key", "") == key) return StageAction::kResume;
      } catch (const std::exception&) {
        // An unreadable mark: start over.
      }
    }
  }
  return StageAction::kRun;
}

void StageCache::mark_started(const std::string& stage, const std::string& key) const {
  std::error_code ec;
  fs::remove(stamp_path(stage), ec);
  write_json_atomic(pending_path(stage), {{"format_version", kFormatVersion}, {"stage", stage}, {"key", key}});
}

void StageCache::mark_done(const StageStamp& stamp) const {
  write_json_atomic(stamp_path(stamp.stage), {{"format_version", kFormatVersion},
                                              {"stage", stamp.stage},
                                              {"key", stamp.key},
                                              {"outputs", stamp.outputs}});
  std::error_code ec;
  fs::remove(pending_path(stamp.stage), ec);
}

void StageCache::clear(const std::string& stage, const std::vector<std::string>& outputs) const {
  std::error_code ec;
  fs::remove(stamp_path(stage), ec);
  fs::remove(pending_path(stage), ec);
  for (const auto& output : outputs) {
    const fs::path path = study_output_path(study_, output);
    fs::remove_all(path, ec);
    if (ec) throw IoError(error_message(path.string(), "cannot remove the stale output: " + ec.message()));
  }
}

}  // namespace privprobe
