#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "data/llava_json.h"
#include "model/autocast.h"
#include "model/checkpoint.h"
#include "model/device.h"
#include "model/runtime.h"
#include "train/dynamics.h"
#include "train/lora.h"
#include "train/sampler.h"
#include "train/train_batch.h"
#include "train/train_setup.h"
#include "train/train_state.h"
#include "util/atomic_file.h"
#include "util/json_io.h"
#include "util/log.h"
#include "util/progress.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace privprobe {
namespace {

constexpr const char* kConfigFile = "train_config.json";
constexpr const char* kLogFile = "train_log.jsonl";
constexpr const char* kTimingFile = "train_timing.jsonl";
constexpr const char* kDynamicsFile = "dynamics.jsonl";
constexpr const char* kCheckpointDir = "checkpoint";

// An append-only JSONL log that a resumed run first cuts back to the length it had at the saved step.
class JsonlLog {
 public:
  JsonlLog(fs::path path, std::uint64_t keep_bytes) : path_(std::move(path)), bytes_(keep_bytes) {
    std::error_code ec;
    const bool exists = fs::exists(path_, ec);
    if (keep_bytes > 0 && (!exists || fs::file_size(path_) < keep_bytes)) {
      throw FormatError(error_message(path_.string(), "is shorter than the saved state records (" + std::to_string(keep_bytes) +
                                                          " bytes)", "the run folder was changed; start a new run"));
    }
    if (exists) fs::resize_file(path_, keep_bytes, ec);
    if (ec) throw IoError(error_message(path_.string(), "cannot truncate: " + ec.message()));
    stream_.open(path_, std::ios::binary | std::ios::app);
    if (!stream_) throw IoError(error_message(path_.string(), "cannot open for writing"));
  }
  void write(const json& row) {
    const std::string line = to_json_line(row) + "\n";
    stream_ << line;
    stream_.flush();
    if (!stream_) throw IoError(error_message(path_.string(), "write failed"));
    bytes_ += line.size();
  }
  std::uint64_t bytes() const { return bytes_; }

 private:
  fs::path path_;
  std::uint64_t bytes_;
  std::ofstream stream_;
};

// Bytes of the first `lines` lines of a file (all of it when shorter: timings are not essential).
std::uint64_t timing_bytes_through(const fs::path& path, std::int64_t lines) {
  std::ifstream in(path, std::ios::binary);
  std::uint64_t bytes = 0;
  std::string line;
  for (std::int64_t i = 0; i < lines && std::getline(in, line); ++i) bytes += line.size() + 1;
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  return ec ? 0 : std::min<std::uint64_t>(bytes, size);
}

// The first setting that differs between a run's record and this invocation, or "".
std::string differing_setting(const json& recorded, const json& now) {
  for (const auto& [key, value] : now.items()) {
    if (!recorded.contains(key) || recorded[key] != value) return key;
  }
  for (const auto& [key, value] : recorded.items()) {
    if (!now.contains(key)) return key;
  }
  return {};
}

// Per-patch cross-entropy of the aux head on the vision features; undefined when no patch has a target.
torch::Tensor aux_loss(torch::nn::Linear& head, torch::Tensor features, const torch::Tensor& labels) {
  if (!features.defined() || !labels.defined()) return {};
  if (features.size(1) == labels.size(1) + 1) features = features.narrow(1, 1, labels.size(1));  // CLS kept ("full")
  if (!labels.ne(kIgnoreIndex).any().item<bool>()) return {};
  auto logits = head->forward(features);  // [N, P, C]
  namespace F = torch::nn::functional;
  return F::cross_entropy(logits.reshape({-1, logits.size(-1)}), labels.reshape({-1}),
                          F::CrossEntropyFuncOptions().ignore_index(kIgnoreIndex));
}

// The collated batch (built on the CPU) on the model's device.
LlavaBatch batch_on(const LlavaBatch& batch, const torch::Device& device) {
  const auto move = [&](const torch::Tensor& t) { return t.defined() ? t.to(device) : t; };
  return {move(batch.input_ids), move(batch.attention_mask), move(batch.pixel_values), move(batch.labels)};
}

std::string format_number(double value) {
  if (std::isnan(value)) return "nan";
  std::ostringstream s;
  s << value;
  return s.str();
}

json provenance_json(const TrainConfig& config, const TrainDataset& data, std::int64_t total_steps) {
  return {{"stage", "train"},
          {"mode", config.pretraining() ? "pretrain" : (config.lora.rank > 0 ? "lora" : "finetune")},
          {"seed", config.seed},
          {"data", fs::absolute(config.data).lexically_normal().generic_string()},
          {"image_root", fs::absolute(config.image_root).lexically_normal().generic_string()},
          {"manifest", data.manifest.empty() ? json(nullptr) : json(fs::absolute(data.manifest).lexically_normal().generic_string())},
          {"parent_checkpoint", config.init.empty() ? json(nullptr) : json(fs::absolute(config.init).lexically_normal().generic_string())},
          {"model_config", config.model_config.empty() ? json(nullptr) : json(config.model_config)},
          {"steps", total_steps},
          {"rows", data.rows.size()},
          {"watermarked_rows", data.watermarked()},
          {"wm_per_batch", config.wm_per_batch},
          {"augment", config.augment}};
}

struct RunContext {
  RunContext(const TrainConfig& c, ModelSetup& s, TrainDataset& d) : config(c), setup(s), data(d) {}
  const TrainConfig& config;
  ModelSetup& setup;
  TrainDataset& data;
  torch::nn::Linear aux_head{nullptr};
  OptimizerSetup optimizer;
  json provenance;
  std::int64_t total_steps = 0;
  std::int64_t last_saved = -1;  // step of the state on disk, -1 none
};

[[noreturn]] void diverged(const RunContext& run, std::int64_t step, const std::string& what) {
  const std::string hint = run.last_saved >= 0
                               ? "the last good state, step " + std::to_string(run.last_saved) + ", is in " +
                                     (run.config.out / kTrainStateDir).string() + " (model: checkpoint/); lower --lr"
                               : std::string("no state was saved before it; lower --lr or check the data and --init");
  throw TrainingDivergedError(error_message(run.config.out.string(), "step " + std::to_string(step) + ": " + what +
                                                                         "; training stopped",
                                            hint));
}

void save_state(RunContext& run, std::int64_t step, const JsonlLog& log, const JsonlLog* dynamics) {
  if (!all_finite(*run.setup.model)) diverged(run, step, "the weights are not finite");
  TrainState state;
  state.step = step;
  state.total_steps = run.total_steps;
  state.log_bytes = log.bytes();
  state.dynamics_bytes = dynamics ? dynamics->bytes() : 0;
  StateCheckpointInfo info{&run.setup.config, run.setup.tokenizer_file, &*run.setup.tokenizer, &run.setup.processor,
                           run.provenance};
  save_train_state(run.config.out, state, run.setup.model, *run.optimizer.optimizer,
                   run.aux_head ? run.aux_head.ptr().get() : nullptr, info);
  run.last_saved = step;
}

void save_final(RunContext& run) {
  const TrainConfig& config = run.config;
  const fs::path target = config.out / kCheckpointDir;
  json provenance = run.provenance;
  provenance["step"] = run.total_steps;
  if (config.lora.rank > 0 && config.lora_save == "adapter") {
    const fs::path temp = temp_path_for(target);
    std::error_code ec;
    fs::remove_all(temp, ec);
    save_lora_adapter(temp, run.setup.model, config.lora, config.init);
    const fs::path old = temp_path_for(target);
    if (fs::exists(target, ec)) fs::rename(target, old, ec);
    fs::rename(temp, target, ec);
    if (ec) throw IoError(error_message(target.string(), "cannot move the adapter into place: " + ec.message()));
    fs::remove_all(old, ec);
    return;
  }
  if (config.lora.rank > 0) merge_lora(run.setup.model);
  CheckpointSaveOptions options;
  options.dtype = config.dtype == "bf16" ? torch::kBFloat16 : torch::kFloat32;  // as published checkpoints
  save_checkpoint(target, run.setup.model, run.setup.config, run.setup.tokenizer_file, *run.setup.tokenizer,
                  run.setup.processor, provenance, options);
}

bool final_checkpoint_exists(const TrainConfig& config) {
  const fs::path target = config.out / kCheckpointDir;
  return config.lora.rank > 0 && config.lora_save == "adapter" ? is_lora_adapter(target) : is_checkpoint(target);
}

}  // namespace

double lr_factor(std::int64_t step, std::int64_t total, std::int64_t warmup) {
  if (step < warmup) return static_cast<double>(step + 1) / static_cast<double>(warmup);
  const double progress = total > warmup ? static_cast<double>(step - warmup) / static_cast<double>(total - warmup) : 0.0;
  return 0.5 * (1.0 + std::cos(M_PI * progress));
}

TrainResult run_train(const TrainConfig& config) {
  config.validate();
  configure_threads(config.threads);
  std::error_code ec;
  fs::create_directories(config.out, ec);
  if (ec) throw IoError(error_message(config.out.string(), "cannot create the run folder: " + ec.message()));

  const json settings = train_settings_json(config);
  const fs::path config_file = config.out / kConfigFile;
  const bool existing_run = fs::exists(config_file, ec);
  if (existing_run && !config.resume) {
    throw ConfigError(error_message(config.out.string(), "already holds a training run",
                                    "pass --resume to continue it, or choose another --out"));
  }
  if (existing_run) {
    const json recorded = read_json(config_file);
    const std::string key = differing_setting(recorded.value("settings", json::object()), settings);
    if (!key.empty()) {
      throw ConfigError(error_message(config_file.string(), "--resume with a different setting '" + key + "' than the run was started with",
                                      "resume with the original flags, or start a new run"));
    }
  }

  const std::vector<LlavaSample> samples = load_llava_json(config.data);
  ModelSetup setup = setup_model(config, samples);
  TrainDataOptions data_options;
  data_options.data = config.data;
  data_options.image_root = config.image_root;
  data_options.manifest = config.manifest;
  data_options.source_root = config.source_root;
  data_options.need_sources = config.dynamics_every > 0;
  data_options.on_error = config.on_error;
  data_options.jobs = config.threads;
  TrainTokenization tokenization{&*setup.tokenizer, chat_template(setup.config.template_name), setup.config.image_tokens(),
                                 setup.config.image_token_index, setup.config.text.max_position_embeddings};
  TrainDataset data = load_train_dataset(samples, data_options, tokenization);
  if (config.wm_per_batch > 0 && data.manifest.empty()) {
    throw ConfigError(error_message("--wm-per-batch", "needs the embed manifest to know which images are watermarked",
                                    "none found beside --data; pass --manifest"));
  }

  std::optional<ObjectsIndex> objects;
  if (!config.aux_objects.empty()) {
    objects = load_objects(config.aux_objects);
    std::size_t described = 0;
    for (const auto& row : data.rows) described += row.has_image() && objects->find(row.image) ? 1 : 0;
    if (described == 0) {
      throw ConfigError(error_message(config.aux_objects.string(), "describes none of the training images",
                                      "its image keys must be the data's image paths"));
    }
  }

  RunContext run{config, setup, data};
  const torch::Device device = parse_device(config.device);
  if (objects) {
    run.aux_head = torch::nn::Linear(setup.config.vision.hidden_size, objects->num_classes());
    run.aux_head->to(device);
  }
  // bf16: matrix products in bf16 on the device, float32 master weights (train_setup.h).
  const AutocastSettings autocast{config.dtype == "bf16", torch::kBFloat16};
  const TrainableSetup trainable = prepare_trainable(config, setup.model, run.aux_head ? run.aux_head.ptr().get() : nullptr);
  const double lr = config.lr.value_or(config.pretraining() ? 1e-3 : 3e-4);
  run.optimizer = build_optimizer(config, setup.model, run.aux_head ? run.aux_head.ptr().get() : nullptr, lr,
                                  config.projector_lr.value_or(lr));

  SamplerConfig sampler_config{config.seed, config.batch_size, config.grad_accum, config.wm_per_batch};
  BatchSampler sampler(sampler_config, data.watermark_flags());
  run.total_steps = config.steps > 0 ? config.steps : std::max(1, config.epochs) * sampler.steps_per_epoch();
  const auto warmup = static_cast<std::int64_t>(std::ceil(config.warmup_ratio * static_cast<double>(run.total_steps)));
  run.provenance = provenance_json(config, data, run.total_steps);

  json skipped = json::array();
  for (const auto& s : data.skipped) skipped.push_back({{"index", s.index}, {"id", s.id}, {"reason", s.reason}});
  json record = {{"format_version", kFormatVersion},
                 {"settings", settings},
                 {"resolved",
                  {{"lr", lr},
                   {"projector_lr", run.optimizer.projector_lr},
                   {"total_steps", run.total_steps},
                   {"steps_per_epoch", sampler.steps_per_epoch()},
                   {"warmup_steps", warmup},
                   {"tokenizer", setup.tokenizer_file.generic_string()},
                   {"vocab_size", setup.config.text.vocab_size},
                   {"model", llava_config_to_json(setup.config)},
                   {"frozen", trainable.frozen},
                   {"lora_modules", trainable.lora_modules},
                   {"trainable_parameters", trainable.trainable},
                   {"parameters", trainable.total},
                   {"aux_classes", objects ? json(objects->class_names()) : json(nullptr)},
                   {"rows", data.rows.size()},
                   {"watermarked_rows", data.watermarked()},
                   {"text_only_rows", data.text_only()},
                   {"skipped_rows", data.skipped.size()},
                   {"manifest", data.manifest.empty() ? json(nullptr) : json(data.manifest.generic_string())},
                   {"source_root", data.source_root.empty() ? json(nullptr) : json(data.source_root.generic_string())}}},
                 {"skipped", skipped}};
  write_json_atomic(config_file, record);

  // Resume: the saved state, with the logs cut back to the saved step.
  TrainResult result;
  result.total_steps = run.total_steps;
  result.rows = data.rows.size();
  result.skipped = data.skipped.size();
  result.watermarked = data.watermarked();
  TrainState start;
  if (config.resume) {
    if (auto found = find_train_state(config.out)) {
      start = *found;
      if (start.total_steps != run.total_steps) {
        throw ConfigError(error_message(config.out.string(), "the saved state plans " + std::to_string(start.total_steps) +
                                                                 " steps, this run " + std::to_string(run.total_steps)));
      }
      load_train_state(config.out, setup.model, *run.optimizer.optimizer, run.aux_head ? run.aux_head.ptr().get() : nullptr);
      run.last_saved = start.step;
      spdlog::info("train: resuming {} at step {} of {}", config.out.string(), start.step, run.total_steps);
      if (start.step == run.total_steps && final_checkpoint_exists(config)) {
        result.start_step = start.step;
        result.checkpoint = config.out / kCheckpointDir;
        result.already_complete = true;
        return result;
      }
    }
  }
  result.start_step = start.step;
  JsonlLog log(config.out / kLogFile, start.log_bytes);
  JsonlLog timing(config.out / kTimingFile, timing_bytes_through(config.out / kTimingFile, start.step));
  std::unique_ptr<JsonlLog> dynamics_log;
  if (config.dynamics_every > 0) dynamics_log = std::make_unique<JsonlLog>(config.out / kDynamicsFile, start.dynamics_bytes);

  BatchContext batch_context{&setup.config, &setup.processor, objects ? &*objects : nullptr, config.augment, config.seed};
  DynamicsConfig dynamics_config;
  auto& optimizer = *run.optimizer.optimizer;
  Progress progress(start.step > 0 ? "train (from step " + std::to_string(start.step) + ")" : "train",
                    static_cast<std::uint64_t>(run.total_steps - start.step), config.progress);
  using Clock = std::chrono::steady_clock;
  const auto seconds_since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };

  std::int64_t step = start.step;
  for (; step < run.total_steps; ++step) {
    if (config.halt_after > 0 && result.steps_run == config.halt_after) break;
    const auto step_start = Clock::now();
    double data_seconds = 0, dynamics_seconds = 0;
    const double factor = lr_factor(step, run.total_steps, warmup);
    for (std::size_t g = 0; g < optimizer.param_groups().size(); ++g) {
      optimizer.param_groups()[g].options().set_lr(run.optimizer.base_lrs[g] * factor);
    }
    // Gradients start undefined every step (not zero), so a parameter a batch does not reach
    // (the vision tower on a text-only batch) is skipped by AdamW, in a resumed run as in the original.
    for (auto& p : trainable.parameters) p.mutable_grad() = torch::Tensor();

    double loss_sum = 0, lm_sum = 0, aux_sum = 0;
    int aux_batches = 0, rows = 0, watermarked = 0;
    std::int64_t tokens = 0, label_tokens = 0;
    for (int micro = 0; micro < config.grad_accum; ++micro) {
      const auto data_start = Clock::now();
      TrainBatch batch = collate_rows(data, sampler.batch(step, micro), step, batch_context);
      data_seconds += seconds_since(data_start);
      ForwardOptions options;
      options.keep_image_features = run.aux_head && batch.aux_labels.defined();
      torch::Tensor loss;
      double lm = 0;
      {
        AutocastGuard autocast_scope(device.type(), autocast);  // the forward only: backward follows its casts
        LlavaOutput out = setup.model->forward(batch_on(batch.batch, device), options);
        loss = out.loss;
        lm = loss.item<double>();
        if (run.aux_head) {
          torch::Tensor aux = aux_loss(run.aux_head, out.image_features,
                                       batch.aux_labels.defined() ? batch.aux_labels.to(device) : batch.aux_labels);
          if (aux.defined()) {
            aux_sum += aux.item<double>();
            ++aux_batches;
            loss = loss + config.aux_weight * aux;
          }
        }
      }
      const double value = loss.item<double>();
      if (!std::isfinite(value)) diverged(run, step + 1, "the loss is " + format_number(value));
      (loss / config.grad_accum).backward();
      loss_sum += value;
      lm_sum += lm;
      rows += batch.rows;
      watermarked += batch.watermarked;
      tokens += batch.tokens;
      label_tokens += batch.label_tokens;
    }
    const double max_norm = config.clip > 0 ? config.clip : std::numeric_limits<double>::infinity();
    const double grad_norm = torch::nn::utils::clip_grad_norm_(trainable.parameters, max_norm);
    if (!std::isfinite(grad_norm)) diverged(run, step + 1, "the gradient norm is " + format_number(grad_norm));

    if (dynamics_log && step % config.dynamics_every == 0) {
      const auto dynamics_start = Clock::now();
      DynamicsInputs inputs = dynamics_inputs(data, sampler.step_rows(step), step, batch_context);
      inputs.batch = batch_on(inputs.batch, device);
      inputs.clean_batch = batch_on(inputs.clean_batch, device);
      // The extra passes must not change the run: the random stream and the mode are restored.
      const torch::Tensor generator = torch_generator_state();
      DynamicsRow row;
      {
        AutocastGuard autocast_scope(device.type(), autocast);
        row = measure_dynamics(setup.model, inputs, step + 1, dynamics_config);
      }
      set_torch_generator_state(generator);
      setup.model->train();
      dynamics_log->write(dynamics_row_to_json(row));
      dynamics_seconds = seconds_since(dynamics_start);
    }
    optimizer.step();

    const double loss_mean = loss_sum / config.grad_accum;
    log.write({{"step", step + 1},
               {"epoch", sampler.epoch_of_step(step)},
               {"loss", loss_mean},
               {"lm_loss", lm_sum / config.grad_accum},
               {"aux_loss", run.aux_head ? (aux_batches ? json(aux_sum / aux_batches) : json(nullptr)) : json(nullptr)},
               {"lr", run.optimizer.lr * factor},
               {"grad_norm", grad_norm},
               {"rows", rows},
               {"watermarked", watermarked},
               {"tokens", tokens},
               {"label_tokens", label_tokens}});
    const double seconds = seconds_since(step_start);
    timing.write({{"step", step + 1},
                  {"seconds", seconds},
                  {"data_seconds", data_seconds},
                  {"dynamics_seconds", dynamics_seconds},
                  {"samples_per_s", rows / seconds},
                  {"tokens_per_s", static_cast<double>(tokens) / seconds}});
    result.last_loss = loss_mean;
    ++result.steps_run;
    progress.set_note("loss " + format_number(std::round(loss_mean * 1e4) / 1e4));
    progress.tick();
    if (config.save_every > 0 && (step + 1) % config.save_every == 0 && step + 1 < run.total_steps) {
      save_state(run, step + 1, log, dynamics_log.get());
    }
  }
  progress.finish();
  if (step < run.total_steps) return result;  // halted: as if killed, nothing more is saved

  if (run.last_saved != run.total_steps) save_state(run, run.total_steps, log, dynamics_log.get());
  save_final(run);
  result.checkpoint = config.out / kCheckpointDir;
  spdlog::info("train: {} steps done, final loss {:.4f}, checkpoint {}", run.total_steps, result.last_loss,
               result.checkpoint.string());
  return result;
}

}  // namespace privprobe
