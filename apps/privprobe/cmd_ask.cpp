// `privprobe ask`: the prompt baseline (see src/infer/ask.h).
#include <cmath>
#include <cstdio>
#include <memory>

#include "commands.h"
#include "infer/ask.h"
#include "inference_flags.h"

namespace privprobe::cli {

void register_ask(CLI::App& app) {
  auto* cmd = app.add_subcommand("ask", "Prompt baseline: generation, output-level membership and exposure");
  auto config = std::make_shared<AskConfig>();
  cmd->add_option("--model", config->model, "Checkpoint folder")->required();
  cmd->add_option("--probeset", config->probeset, "probeset.json")->required();
  cmd->add_option("--out", config->out, "Output folder (ask.json)")->required();
  cmd->add_option("--folds", config->folds, "folds.json written by `probe`, so membership uses the probes' folds");
  cmd->add_option("--max-new-tokens", config->max_new_tokens, "Longest generated answer")->capture_default_str();
  cmd->add_option("--batch-size", config->batch_size, "Rows per forward pass")->capture_default_str();
  cmd->add_option("--fold-count", config->fold_count, "Folds when no --folds file is given")->capture_default_str();
  cmd->add_option("--repeats", config->repeats, "Repeats of the folds when no --folds file is given")->capture_default_str();
  cmd->add_option("--group-by", config->group_by, "Own folds keep together samples of one base image or one profile")
      ->capture_default_str();
  cmd->add_option("--seed", config->seed, "Seed of the folds")->capture_default_str();
  add_inference_flags(cmd, config->inference);
  cmd->callback([config] {
    const AskResult r = run_ask(*config);
    std::printf("ask: %zu samples; answers naming the user %.3f; membership accuracy %.3f (AUC %.3f), uncalibrated %.3f; "
                "exposure seen %.3f, unseen %.3f of %.3f bits\n",
                r.samples, r.contains_rate, r.calibrated_accuracy, r.calibrated_auc, r.uncalibrated_accuracy,
                r.exposure_seen, r.exposure_unseen, r.candidates > 0 ? std::log2(static_cast<double>(r.candidates)) : 0.0);
  });
}

}  // namespace privprobe::cli
