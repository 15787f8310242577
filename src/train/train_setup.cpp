#include "train/train_setup.h"

#include <algorithm>

#include "model/checkpoint.h"
#include "model/device.h"
#include "model/chat_template.h"
#include "train/lora.h"
#include "train/tokenizer_setup.h"
#include "train/train_data.h"
#include "util/error.h"
#include "util/log.h"
#include "util/paths.h"

namespace fs = std::filesystem;

namespace privprobe {
namespace {

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

bool in_part(const std::string& name, const std::string& part) { return starts_with(name, part + "."); }

ModelSetup setup_pretraining(const TrainConfig& config, const std::vector<LlavaSample>& samples) {
  ModelSetup setup;
  setup.config = resolve_llava_config(config.model_config);
  if (config.tokenizer.empty()) {
    setup.tokenizer_file = config.out / "tokenizer.model";
    std::error_code ec;
    // A resumed run keeps the tokenizer its weights were trained with.
    if (!(config.resume && fs::is_regular_file(setup.tokenizer_file, ec))) {
      TokenizerSetup spm;
      spm.corpus_lines = tokenizer_corpus_lines(samples, chat_template(setup.config.template_name));
      spm.profile_files = config.tokenizer_profiles;
      spm.vocab_size = setup.config.text.vocab_size;
      spm.output = setup.tokenizer_file;
      train_tokenizer(spm);
      setup.trained_tokenizer = true;
    }
  } else {
    require_file(config.tokenizer, "--tokenizer");
    setup.tokenizer_file = config.tokenizer;
  }
  setup.tokenizer = SentencePieceTokenizer::load(setup.tokenizer_file);
  const SentencePieceTokenizer& tok = *setup.tokenizer;
  // The model follows its tokenizer: vocabulary, special ids and the image token.
  TextConfig& text = setup.config.text;
  text.vocab_size = tok.vocab_size();
  text.bos_token_id = tok.bos_id();
  text.eos_token_id = tok.eos_id();
  text.pad_token_id = tok.pad_id();
  setup.config.pad_token_id = tok.pad_id();
  setup.config.image_token_index = tok.require_id(kImageToken);
  if (tok.eos_id() < 0) {
    throw ConfigError(error_message(setup.tokenizer_file.string(), "the tokenizer has no end-of-sequence piece",
                                    "answers end with </s>; train the tokenizer with --eos_id"));
  }
  setup.config.validate(config.model_config);
  setup.processor = ImageProcessorConfig::for_size(setup.config.vision.image_size);
  torch::manual_seed(config.seed);
  setup.model = LlavaForConditionalGeneration(setup.config);
  setup.model->to(parse_device(config.device));
  return setup;
}

ModelSetup setup_finetuning(const TrainConfig& config) {
  if (!is_checkpoint(config.init)) {
    throw IoError(error_message(config.init.string(), "is not a checkpoint (needs config.json and model weights)",
                                "--init takes a checkpoint folder written by privprobe train, or a llava-hf one"));
  }
  // Frozen weights stay in the run's dtype; prepare_trainable turns what trains back to float32.
  CheckpointLoadOptions load;
  load.dtype = config.dtype == "bf16" ? torch::kBFloat16 : torch::kFloat32;
  load.device = parse_device(config.device);
  LoadedCheckpoint ck = load_checkpoint(config.init, load);
  ModelSetup setup;
  setup.config = ck.config;
  setup.tokenizer = ck.tokenizer;
  setup.tokenizer_file = config.init / "tokenizer.model";
  require_file(setup.tokenizer_file, "the checkpoint's tokenizer");
  setup.processor = ck.image_processor;
  setup.model = ck.model;
  // Anything drawn from here on (LoRA's initial A, the aux head, dropout) starts from the seed.
  torch::manual_seed(config.seed);
  return setup;
}

}  // namespace

ModelSetup setup_model(const TrainConfig& config, const std::vector<LlavaSample>& samples) {
  ModelSetup setup = config.pretraining() ? setup_pretraining(config, samples) : setup_finetuning(config);
  setup.model->train();
  setup.model->language_model->gradient_checkpointing = config.gradient_checkpointing;
  return setup;
}

TrainableSetup prepare_trainable(const TrainConfig& config, LlavaForConditionalGeneration& model,
                                 torch::nn::Module* aux_head) {
  TrainableSetup out;
  out.frozen = config.freeze ? *config.freeze
                             : (config.pretraining() ? std::vector<std::string>{} : std::vector<std::string>{kVisionTowerPart});
  const bool projector_frozen = std::find(out.frozen.begin(), out.frozen.end(), kProjectorPart) != out.frozen.end();
  if (config.lora.rank > 0) {
    out.lora_modules = apply_lora(model, config.lora);
    freeze_all_but_lora(model, /*train_projector=*/!projector_frozen);
  }
  for (auto& item : model->named_parameters()) {
    for (const auto& part : out.frozen) {
      if (in_part(item.key(), part)) item.value().requires_grad_(false);
    }
  }
  for (const auto& item : model->named_parameters()) {
    out.total += item.value().numel();
    if (!item.value().requires_grad()) continue;
    out.parameters.push_back(item.value());
    out.trainable += item.value().numel();
  }
  if (aux_head) {
    for (const auto& p : aux_head->parameters()) {
      out.parameters.push_back(p);
      out.trainable += p.numel();
    }
  }
  // Master weights: what the optimizer updates is float32 even when the frozen rest is bf16
  // (autocast computes with bf16 copies), so small updates are not rounded away.
  torch::NoGradGuard no_grad;
  for (auto& p : out.parameters) {
    if (p.is_floating_point() && p.scalar_type() != torch::kFloat32) p.set_data(p.to(torch::kFloat32));
  }
  if (out.trainable == 0) throw ConfigError(error_message("--freeze", "leaves no parameter to train"));
  return out;
}

OptimizerSetup build_optimizer(const TrainConfig& config, LlavaForConditionalGeneration& model,
                               torch::nn::Module* aux_head, double lr, double projector_lr) {
  // [projector?][decay?]
  std::vector<torch::Tensor> groups[2][2];
  for (const auto& item : model->named_parameters()) {
    if (!item.value().requires_grad()) continue;
    const bool projector = in_part(item.key(), kProjectorPart);
    const bool decay = item.value().dim() >= 2;
    groups[projector ? 1 : 0][decay ? 1 : 0].push_back(item.value());
  }
  if (aux_head) {
    for (const auto& p : aux_head->parameters()) groups[0][p.dim() >= 2 ? 1 : 0].push_back(p);
  }
  OptimizerSetup out;
  out.lr = lr;
  out.projector_lr = projector_lr;
  std::vector<torch::optim::OptimizerParamGroup> param_groups;
  for (int projector = 0; projector < 2; ++projector) {
    for (int decay = 0; decay < 2; ++decay) {
      auto& params = groups[projector][decay];
      if (params.empty()) continue;
      const double base = projector ? projector_lr : lr;
      auto options = std::make_unique<torch::optim::AdamWOptions>(base);
      options->weight_decay(decay ? config.weight_decay : 0.0);  // AdamWOptions defaults to 1e-2
      param_groups.emplace_back(params, std::move(options));
      out.base_lrs.push_back(base);
    }
  }
  torch::optim::AdamWOptions defaults(lr);
  defaults.weight_decay(0.0);
  out.optimizer = std::make_unique<torch::optim::AdamW>(std::move(param_groups), defaults);
  return out;
}

}  // namespace privprobe
