// The study's stage cache. Each stage has a key: the SHA-256 of its name, its settings (JSON), the
// keys of the stages it reads from and privprobe's version. After a stage's outputs are complete a
// stamp STUDY/stages/<stage>.json records the key and the outputs; a rerun skips a stage whose
// stamp holds the same key and whose outputs all exist. A stage that starts leaves
// stages/<stage>.pending.json with its key, so a rerun after an interrupt knows whether the partial
// outputs belong to the same settings (resumable stages then continue, e.g. training from state/)
// or must be cleared.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace privprobe {

struct StageStamp {
  std::string stage;
  std::string key;
  std::vector<std::string> outputs;  // relative to the study folder
};

// sha256 over {"stage", "settings", "inputs", "version"} serialised with sorted keys.
std::string stage_key(const std::string& stage, const nlohmann::json& settings, const std::vector<std::string>& input_keys);

// "train" for "train:r0.5-s0"; the name itself when it has no ':'.
std::string stage_kind(const std::string& stage);

// Whether any --force entry names this stage: the stage itself, its kind, or "all".
bool force_matches(const std::vector<std::string>& force, const std::string& stage);

enum class StageAction {
  kSkip,    // finished with the same key: nothing to do
  kResume,  // interrupted with the same key and resumable: continue on the partial outputs
  kRun,     // anything else: clear the outputs and run
};

class StageCache {
 public:
  explicit StageCache(std::filesystem::path study);

  StageAction decide(const std::string& stage, const std::string& key, const std::vector<std::string>& outputs,
                     bool forced, bool resumable) const;

  // Records that the stage starts with this key (before its first output is written).
  void mark_started(const std::string& stage, const std::string& key) const;
  // Writes the stamp (atomically) and removes the pending mark.
  void mark_done(const StageStamp& stamp) const;
  // Removes the stage's outputs (files or folders), its stamp and its pending mark.
  void clear(const std::string& stage, const std::vector<std::string>& outputs) const;

  // The stamp, or nothing when it is missing or unreadable (a broken stamp only costs a rerun).
  std::optional<StageStamp> read_stamp(const std::string& stage) const;
  std::filesystem::path stamp_path(const std::string& stage) const;
  std::filesystem::path pending_path(const std::string& stage) const;

 private:
  std::filesystem::path study_;
};

// An output path of a stage inside the study folder. Throws ConfigError for an absolute path or
// one with '..' (an output must never point outside the study).
std::filesystem::path study_output_path(const std::filesystem::path& study, const std::string& relative);

}  // namespace privprobe
