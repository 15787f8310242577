// `privprobe extract`: per-layer hidden states of a probe set (see src/infer/extract.h).
#include <cstdint>
#include <cstdio>
#include <memory>

#include "commands.h"
#include "infer/extract.h"
#include "inference_flags.h"

namespace privprobe::cli {

void register_extract(CLI::App& app) {
  auto* cmd = app.add_subcommand("extract", "Run a checkpoint over a probe set and save every layer's hidden state");
  auto config = std::make_shared<ExtractConfig>();
  auto seed = std::make_shared<std::uint64_t>(0);
  cmd->add_option("--model", config->model, "Checkpoint folder")->required();
  cmd->add_option("--probeset", config->probeset, "probeset.json")->required();
  cmd->add_option("--out", config->out, "Activations file (.safetensors; metadata goes beside it as .json)")->required();
  cmd->add_option("--position", config->position, "Where states are read: last, image-mean, all-mean or index:K")
      ->capture_default_str();
  cmd->add_flag("--vision", config->vision, "Also save the vision tower's states (mean over patches)");
  cmd->add_option("--batch-size", config->batch_size, "Samples per forward pass")->capture_default_str();
  cmd->add_option("--shard", config->shard, "Only the i-th of N slices, i from 1 (join them with `privprobe merge`)");
  cmd->add_option("--seed", *seed, "Unused: extraction draws no randomness (accepted as by every subcommand)");
  add_inference_flags(cmd, config->inference);
  cmd->callback([config] {
    const ExtractResult r = run_extract(*config);
    std::printf("extract: %lld samples x %lld states x %lld -> %s\n", static_cast<long long>(r.samples),
                static_cast<long long>(r.states), static_cast<long long>(r.dim), config->out.string().c_str());
  });
}

}  // namespace privprobe::cli
