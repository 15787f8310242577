// `privprobe eval`: VQA exact-match accuracy on held-out data (see src/infer/eval.h).
#include <cstdint>
#include <cstdio>
#include <memory>

#include "commands.h"
#include "infer/eval.h"
#include "inference_flags.h"

namespace privprobe::cli {

void register_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "VQA accuracy (normalised exact match) on clean held-out data");
  auto config = std::make_shared<EvalConfig>();
  auto seed = std::make_shared<std::uint64_t>(0);
  cmd->add_option("--model", config->model, "Checkpoint folder")->required();
  cmd->add_option("--data", config->data, "LLaVA JSON of held-out questions with reference answers")->required();
  cmd->add_option("--image-root", config->image_root, "Folder the JSON's image paths are relative to")->required();
  cmd->add_option("--out", config->out, "Output folder (eval.json)")->required();
  cmd->add_option("--batch-size", config->batch_size, "Questions per forward pass")->capture_default_str();
  cmd->add_option("--max-new-tokens", config->max_new_tokens, "Longest generated answer")->capture_default_str();
  cmd->add_option("--count", config->count, "Only the first N questions (0: all)")->capture_default_str();
  cmd->add_option("--seed", *seed, "Unused: greedy decoding draws no randomness (accepted as by every subcommand)");
  add_inference_flags(cmd, config->inference);
  cmd->callback([config] {
    const EvalResult r = run_eval(*config);
    std::printf("eval: %zu of %zu correct (accuracy %.4f) -> %s\n", r.correct, r.items, r.accuracy,
                (config->out / "eval.json").string().c_str());
  });
}

}  // namespace privprobe::cli
