#include "study/study.h"

#include <sys/file.h>
#include <unistd.h>
#include <fcntl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <system_error>

#include "study/results_builder.h"
#include "study/stage_cache.h"
#include "study/study_stages.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_io.h"
#include "util/log.h"
#include "util/progress.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace privprobe {
namespace {

constexpr const char* kTimingFile = "timing.json";
constexpr const char* kLockFile = "study.lock";

// One study process per folder: a second one would clear and rewrite the first one's outputs.
class FolderLock {
 public:
  explicit FolderLock(const fs::path& folder) : path_(folder / kLockFile) {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw IoError(error_message(path_.string(), "cannot create the lock file"));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd_);
      throw ConfigError(error_message(folder.string(), "another privprobe study is running in this folder"));
    }
  }
  ~FolderLock() {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  fs::path path_;
  int fd_ = -1;
};

fs::path resolve_folder(const StudyOptions& options, const StudyConfig& config) {
  fs::path folder = fs::absolute(options.out.empty() ? fs::path(config.study.out) : options.out).lexically_normal();
  if (folder.filename().empty()) folder = folder.parent_path();  // "out/" -> "out"
  return folder;
}

// Refuses a non-empty folder that holds no study, so a mistyped --out never mixes outputs into
// someone's files.
void check_folder(const fs::path& folder) {
  std::error_code ec;
  if (!fs::exists(folder, ec)) return;
  if (!fs::is_directory(folder, ec)) throw ConfigError(error_message(folder.string(), "exists and is not a folder"));
  if (fs::is_empty(folder, ec) || fs::exists(folder / "study.toml", ec) || fs::exists(folder / "stages", ec)) return;
  throw ConfigError(error_message(folder.string(), "is not empty and holds no study", "choose a new or empty --out"));
}

StudyContext make_context(const StudyOptions& options, const StudyConfig& config) {
  StudyContext ctx;
  ctx.config = config;
  ctx.plan = make_study_plan(config);
  ctx.folder = resolve_folder(options, config);
  ctx.progress = options.progress;
  ctx.quick = options.quick;
  return ctx;
}

void check_force(const std::vector<std::string>& force, const std::vector<Stage>& stages) {
  for (const std::string& f : force) {
    bool found = f == "all";
    std::set<std::string> kinds;
    for (const Stage& s : stages) {
      found = found || s.name == f || stage_kind(s.name) == f;
      kinds.insert(stage_kind(s.name));
    }
    if (!found) {
      std::string list;
      for (const auto& k : kinds) list += (list.empty() ? "" : ", ") + k;
      throw ConfigError(error_message("--force", "no stage is named '" + f + "'",
                                      "give a stage (e.g. finetune:r0.5-s0), a kind (" + list + ") or all"));
    }
  }
}

std::string label_of(const std::string& stage) {
  std::string label = stage;
  const auto colon = label.find(':');
  if (colon != std::string::npos) label[colon] = ' ';
  return label;
}

json read_timing(const fs::path& file) {
  std::error_code ec;
  if (fs::is_regular_file(file, ec)) {
    try {
      json t = read_json(file);
      if (t.contains("stages") && t["stages"].is_object()) return t["stages"];
    } catch (const std::exception&) {
      // Timings are informative only: a broken file starts afresh.
    }
  }
  return json::object();
}

}  // namespace

std::vector<std::string> study_stage_names(const StudyConfig& config, const fs::path& folder) {
  StudyOptions options;
  options.out = folder;
  std::vector<std::string> names;
  for (const Stage& s : build_study_stages(make_context(options, config))) names.push_back(s.name);
  return names;
}

StudyResult run_study(const StudyOptions& options) {
  StudyConfig config = load_study_config(options.config_file, options.quick, options.preset);
  if (options.seed) config.study.seed = *options.seed;
  const StudyContext ctx = make_context(options, config);
  const std::vector<Stage> stages = build_study_stages(ctx);
  check_force(options.force, stages);
  check_folder(ctx.folder);
  fs::create_directories(ctx.folder);
  FolderLock lock(ctx.folder);
  remove_stale_temp_files(ctx.folder);
  write_file_atomic(ctx.folder / "study.toml", study_config_to_toml(config));

  // Every key and decision up front: a key depends only on settings and input keys, so the work
  // left (and the ETA) is known before the first stage runs. As with make, a stage also reruns
  // (from scratch) when a stage it reads from reruns, so a forced or repaired stage never leaves
  // stale outputs behind it.
  const StageCache cache(ctx.folder);
  std::map<std::string, std::string> keys;
  std::set<std::string> rerun;
  std::vector<StageAction> actions;
  double weight_to_run = 0;
  for (const Stage& stage : stages) {
    std::vector<std::string> input_keys;
    bool input_reruns = false;
    for (const std::string& input : stage.inputs) {
      input_keys.push_back(keys.at(input));
      input_reruns = input_reruns || rerun.count(input) > 0;
    }
    keys[stage.name] = stage_key(stage.name, stage.settings, input_keys);
    StageAction action = cache.decide(stage.name, keys[stage.name], stage.outputs, force_matches(options.force, stage.name),
                                      stage.resumable);
    if (input_reruns) action = StageAction::kRun;
    actions.push_back(action);
    if (action != StageAction::kSkip) {
      rerun.insert(stage.name);
      weight_to_run += stage.weight;
    }
  }

  StudyResult result;
  result.folder = ctx.folder;
  result.stages = stages.size();
  json timing = read_timing(ctx.folder / kTimingFile);
  using Clock = std::chrono::steady_clock;
  const auto study_start = Clock::now();
  double weight_done = 0;
  const std::size_t n = stages.size();
  spdlog::info("study: {} stages into {} ({} cached)", n, ctx.folder.string(),
               static_cast<std::size_t>(std::count(actions.begin(), actions.end(), StageAction::kSkip)));
  for (std::size_t i = 0; i < n; ++i) {
    const Stage& stage = stages[i];
    const std::string counter = "[" + std::to_string(i + 1) + "/" + std::to_string(n) + "] " + label_of(stage.name);
    if (actions[i] == StageAction::kSkip) {
      spdlog::info("{}: cached", counter);
      ++result.skipped;
      continue;
    }
    if (actions[i] == StageAction::kRun) cache.clear(stage.name, stage.outputs);
    for (const std::string& output : stage.outputs) fs::create_directories(study_output_path(ctx.folder, output).parent_path());
    cache.mark_started(stage.name, keys[stage.name]);
    const double elapsed = std::chrono::duration<double>(Clock::now() - study_start).count();
    // Weights are seconds on an idle 2-core machine; once a tenth of the work is done, the measured
    // pace of this machine rescales them.
    const double rate = weight_done > 0.1 * weight_to_run ? elapsed / weight_done : 1.0;
    spdlog::info("{}{} ... elapsed {}, ETA {}", counter, actions[i] == StageAction::kResume ? " (resuming)" : "",
                 Progress::format_duration(elapsed), Progress::format_duration(rate * (weight_to_run - weight_done)));
    const auto start = Clock::now();
    stage.run(actions[i] == StageAction::kResume);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    cache.mark_done({stage.name, keys[stage.name], stage.outputs});
    weight_done += stage.weight;
    ++result.ran;
    timing[stage.name] = seconds;
    write_json_atomic(ctx.folder / kTimingFile, {{"format_version", kFormatVersion},
                                                 {"stages", timing},
                                                 {"note", "seconds per stage, from the run that last computed it"}});
    spdlog::info("{} done in {}", counter, Progress::format_duration(seconds));
  }
  spdlog::info("study: {} stage(s) run, {} cached, in {}", result.ran, result.skipped,
               Progress::format_duration(std::chrono::duration<double>(Clock::now() - study_start).count()));

  const json results = read_json(ctx.folder / "results.json");
  result.conclusion = results.at("findings").value("conclusion", "");
  if (options.print_table) {
    print_study_table(results, stdout);
    std::printf("\nstudy folder: %s\n", ctx.folder.string().c_str());
    std::fflush(stdout);
  }
  return result;
}

}  // namespace privprobe
