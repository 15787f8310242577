// Setting a run up: the model and its tokenizer (from a config, training the tokenizer when none is
// given, or from a checkpoint), which parameters train (freezing, LoRA), and the optimizer's groups.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "data/llava_json.h"
#include "model/image_processor.h"
#include "model/llava.h"
#include "model/llava_config.h"
#include "text/sentencepiece_tokenizer.h"
#include "train/train_config.h"

namespace privprobe {

struct ModelSetup {
  LlavaConfig config;
  std::optional<SentencePieceTokenizer> tokenizer;
  std::filesystem::path tokenizer_file;
  ImageProcessorConfig processor;
  LlavaForConditionalGeneration model{nullptr};
  bool trained_tokenizer = false;
};

// Pretraining: the named config with the vocabulary, special ids and <image> id taken from the
// tokenizer (trained into RUN/tokenizer.model unless --tokenizer, or reused on --resume), the model
// initialised from the seed. Fine-tuning: the checkpoint (IoError when --init is not one).
ModelSetup setup_model(const TrainConfig& config, const std::vector<LlavaSample>& samples);

struct TrainableSetup {
  std::vector<std::string> frozen;        // parts frozen outright
  std::vector<std::string> lora_modules;  // with LoRA: the module paths that got an adapter
  std::vector<torch::Tensor> parameters;  // what the optimizer updates (model, then aux head)
  std::int64_t trainable = 0;             // their element count
  std::int64_t total = 0;                 // the model's element count (with adapters)
};

// Freezes parts (or applies LoRA and freezes all but the adapters and, unless frozen, the
// projector), and makes what trains float32 (a bf16 run keeps only frozen weights in bf16).
// Throws ConfigError when nothing is left to train.
TrainableSetup prepare_trainable(const TrainConfig& config, LlavaForConditionalGeneration& model,
                                 torch::nn::Module* aux_head);

struct OptimizerSetup {
  std::unique_ptr<torch::optim::AdamW> optimizer;
  std::vector<double> base_lrs;  // one per param group, scaled by the schedule each step
  double lr = 0, projector_lr = 0;
};

// AdamW groups: matrices with weight decay, vectors (biases, norms) without, each for the
// projector (at projector_lr) and for the rest; the aux head joins the rest.
OptimizerSetup build_optimizer(const TrainConfig& config, LlavaForConditionalGeneration& model,
                               torch::nn::Module* aux_head, double lr, double projector_lr);

}  // namespace privprobe
