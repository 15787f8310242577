#include "train/train_state.h"

#include <functional>
#include <mutex>
#include <type_traits>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>

#include "io/sharded_safetensors.h"
#include "model/checkpoint.h"
#include "model/weights.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_io.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace privprobe {
namespace {

constexpr const char* kCheckpointDir = "checkpoint";
constexpr const char* kOptimizerFile = "optimizer.pt";
constexpr const char* kAuxHeadFile = "aux_head.pt";
constexpr const char* kRngFile = "rng.pt";

json state_to_json(const TrainState& s) {
  return {{"format_version", kFormatVersion},
          {"step", s.step},
          {"total_steps", s.total_steps},
          {"log_bytes", s.log_bytes},
          {"dynamics_bytes", s.dynamics_bytes}};
}

std::optional<TrainState> read_state(const fs::path& folder) {
  std::error_code ec;
  const fs::path file = folder / kTrainStateFile;
  if (!fs::is_regular_file(file, ec)) return std::nullopt;
  const json j = read_json(file);
  const std::string where = file.string();
  TrainState s;
  s.step = require_int(j, "step", where);
  s.total_steps = require_int(j, "total_steps", where);
  s.log_bytes = static_cast<std::uint64_t>(require_int(j, "log_bytes", where));
  s.dynamics_bytes = static_cast<std::uint64_t>(require_int(j, "dynamics_bytes", where));
  return s;
}

// The optimizer's per-parameter state is keyed by the tensor's address (a string in libtorch 1.x,
// a pointer in 2.x); this gives the key of either kind.
template <typename StateMap>
typename StateMap::key_type state_key(const StateMap&, const torch::Tensor& p) {
  if constexpr (std::is_same_v<typename StateMap::key_type, std::string>) {
    return c10::guts::to_string(p.unsafeGetTensorImpl());
  } else {
    return p.unsafeGetTensorImpl();
  }
}

// AdamW's moments by parameter position (group by group), not by address, so the file has the
// same bytes in every run (torch::save(optimizer) records addresses).
void save_adamw(const torch::optim::AdamW& optimizer, const fs::path& path) {
  torch::serialize::OutputArchive archive;
  const auto& state = optimizer.state();
  std::int64_t index = 0;
  for (const auto& group : optimizer.param_groups()) {
    for (const auto& p : group.params()) {
      const std::string prefix = "param" + std::to_string(index++);
      const auto it = state.find(state_key(state, p));
      if (it == state.end()) continue;  // no update reached this parameter yet
      const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
      archive.write(prefix + ".step", torch::tensor(s.step(), torch::kInt64));
      archive.write(prefix + ".exp_avg", s.exp_avg());
      archive.write(prefix + ".exp_avg_sq", s.exp_avg_sq());
      if (s.max_exp_avg_sq().defined()) archive.write(prefix + ".max_exp_avg_sq", s.max_exp_avg_sq());
    }
  }
  archive.write("parameters", torch::tensor(index, torch::kInt64));
  archive.save_to(path.string());
}

void load_adamw(torch::optim::AdamW& optimizer, const fs::path& path) {
  torch::serialize::InputArchive archive;
  archive.load_from(path.string());
  torch::Tensor count;
  archive.read("parameters", count);
  std::int64_t expected = 0;
  for (const auto& group : optimizer.param_groups()) expected += static_cast<std::int64_t>(group.params().size());
  if (count.item<std::int64_t>() != expected) {
    throw FormatError(error_message(path.string(), "holds the state of " + std::to_string(count.item<std::int64_t>()) +
                                                       " parameters, this run trains " + std::to_string(expected)));
  }
  auto& state = optimizer.state();
  state.clear();
  std::int64_t index = 0;
  for (const auto& group : optimizer.param_groups()) {
    for (const auto& p : group.params()) {
      const std::string prefix = "param" + std::to_string(index++);
      torch::Tensor step, exp_avg, exp_avg_sq, max_exp_avg_sq;
      if (!archive.try_read(prefix + ".step", step)) continue;
      archive.read(prefix + ".exp_avg", exp_avg);
      archive.read(prefix + ".exp_avg_sq", exp_avg_sq);
      if (!exp_avg.sizes().equals(p.sizes()) || !exp_avg_sq.sizes().equals(p.sizes())) {
        throw FormatError(error_message(path.string(), "the moments of parameter " + std::to_string(index - 1) +
                                                           " do not match its shape"));
      }
      auto s = std::make_unique<torch::optim::AdamWParamState>();
      s->step(step.item<std::int64_t>());
      s->exp_avg(exp_avg.to(p.device()).clone());
      s->exp_avg_sq(exp_avg_sq.to(p.device()).clone());
      if (archive.try_read(prefix + ".max_exp_avg_sq", max_exp_avg_sq)) s->max_exp_avg_sq(max_exp_avg_sq.to(p.device()).clone());
      state[state_key(state, p)] = std::move(s);
    }
  }
}

// Replaces `target` with the complete folder `fresh`: the old one moves aside first, so the final
// name holds a whole state or none (find_train_state recovers the second case).
void swap_in(const fs::path& fresh, const fs::path& target) {
  std::error_code ec;
  const fs::path old = temp_path_for(target);
  if (fs::exists(target, ec)) fs::rename(target, old, ec);
  if (ec) throw IoError(error_message(target.string(), "cannot move the previous state aside: " + ec.message()));
  fs::rename(fresh, target, ec);
  if (ec) throw IoError(error_message(target.string(), "cannot move the new state into place: " + ec.message()));
  fs::remove_all(old, ec);
}

}  // namespace

torch::Tensor torch_generator_state() {
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get_state();
}

void set_torch_generator_state(const torch::Tensor& state) {
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state);
}

bool all_finite(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (const auto& p : module.parameters()) {
    if (!torch::isfinite(p).all().item<bool>()) return false;
  }
  return true;
}

void save_train_state(const fs::path& run, const TrainState& state, LlavaForConditionalGeneration& model,
                      torch::optim::AdamW& optimizer, torch::nn::Module* aux_head, const StateCheckpointInfo& info) {
  const fs::path target = run / kTrainStateDir;
  const fs::path temp = temp_path_for(target);
  std::error_code ec;
  fs::remove_all(temp, ec);
  fs::create_directories(temp, ec);
  if (ec) throw IoError(error_message(temp.string(), "cannot create folder: " + ec.message()));
  try {
    json provenance = info.provenance;
    provenance["step"] = state.step;
    // Each tensor in its own dtype: a bf16 run's frozen base stays bf16, what trains float32.
    CheckpointSaveOptions options;
    options.dtype = std::nullopt;
    save_checkpoint(temp / kCheckpointDir, model, *info.config, info.tokenizer_file, *info.tokenizer, *info.processor,
                    provenance, options);
    save_adamw(optimizer, temp / kOptimizerFile);
    if (aux_head) {
      torch::serialize::OutputArchive archive;
      aux_head->save(archive);
      archive.save_to((temp / kAuxHeadFile).string());
    }
    torch::save(torch_generator_state(), (temp / kRngFile).string());
    write_json_atomic(temp / kTrainStateFile, state_to_json(state));  // last: marks the folder complete
  } catch (const c10::Error& e) {
    fs::remove_all(temp, ec);
    throw IoError(error_message(temp.string(), std::string("cannot save the training state: ") + e.what_without_backtrace()));
  } catch (...) {
    fs::remove_all(temp, ec);
    throw;
  }
  swap_in(temp, target);
}

std::optional<TrainState> find_train_state(const fs::path& run) {
  const fs::path target = run / kTrainStateDir;
  std::error_code ec;
  if (fs::is_directory(target, ec)) {
    if (auto state = read_state(target)) return state;
  }
  // Interrupted swap: complete states under temporary names; the most advanced wins.
  const std::string prefix = std::string(kTrainStateDir) + std::string(kTempMarker);
  std::optional<TrainState> best;
  fs::path best_folder;
  if (!fs::is_directory(run, ec)) return std::nullopt;
  for (const auto& entry : fs::directory_iterator(run, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0 || !entry.is_directory(ec)) continue;
    auto state = read_state(entry.path());
    if (state && (!best || state->step > best->step)) {
      best = state;
      best_folder = entry.path();
    }
  }
  if (!best) return std::nullopt;
  fs::remove_all(target, ec);
  fs::rename(best_folder, target, ec);
  if (ec) throw IoError(error_message(target.string(), "cannot restore the saved state: " + ec.message()));
  return best;
}

void load_train_state(const fs::path& run, LlavaForConditionalGeneration& model, torch::optim::AdamW& optimizer,
                      torch::nn::Module* aux_head) {
  const fs::path folder = run / kTrainStateDir;
  const ShardedSafetensors weights = open_checkpoint_weights(folder / kCheckpointDir);
  {
    torch::NoGradGuard no_grad;
    load_weights(*model, weights);
  }
  const auto load_file = [&](const char* name, const std::function<void(const std::string&)>& fn) {
    const fs::path path = folder / name;
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) throw IoError(error_message(path.string(), "is missing from the saved state"));
    try {
      fn(path.string());
    } catch (const c10::Error& e) {
      throw FormatError(error_message(path.string(), std::string("does not fit this run: ") + e.what_without_backtrace()));
    }
  };
  load_file(kOptimizerFile, [&](const std::string& path) { load_adamw(optimizer, path); });
  if (aux_head) {
    load_file(kAuxHeadFile, [&](const std::string& path) {
      torch::serialize::InputArchive archive;
      archive.load_from(path);
      aux_head->load(archive);
    });
  }
  load_file(kRngFile, [&](const std::string& path) {
    torch::Tensor state;
    torch::load(state, path);
    set_torch_generator_state(state);
  });
}

}  // namespace privprobe
