// `privprobe probe`: flags -> ProbeJob / CompareJob -> run_probe_job / run_compare_job, then a
// one-line summary on stdout (see src/probe/probe.h and src/probe/probe_output.h).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "probe/probe_output.h"
#include "util/error.h"

namespace privprobe::cli {

void register_probe(CLI::App& app) {
  auto* cmd = app.add_subcommand("probe", "Layer-wise linear probes of extracted hidden states (seen vs unseen)");
  auto config = std::make_shared<ProbeConfig>();
  auto acts = std::make_shared<std::string>();
  auto compare = std::make_shared<std::vector<std::string>>();
  auto out = std::make_shared<std::string>();
  auto folds_from = std::make_shared<std::string>();
  auto split = std::make_shared<std::string>("kfold");
  auto group_by = std::make_shared<std::string>("image");
  auto no_control = std::make_shared<bool>(false);

  auto* acts_option = cmd->add_option("--acts", *acts, "Activation file (safetensors: states [N, L, D], labels [N])");
  auto* compare_option = cmd->add_option("--compare", *compare, "BASE TUNED: two activation files of the same probe set")
                             ->expected(2);
  acts_option->excludes(compare_option);
  compare_option->excludes(acts_option);
  cmd->add_option("--out", *out, "Output folder (probe.json, probe.csv, folds.json; compare.json)")->required();
  cmd->add_option("--folds", config->folds, "Folds per repeat")->capture_default_str();
  cmd->add_option("--repeats", config->repeats, "Repeats of the k-fold split, each with its own seed")->capture_default_str();
  cmd->add_option("--split", *split, "kfold, or paper: one stratified 80/20 split, seed 42, no standardisation")
      ->capture_default_str();
  cmd->add_option("--C", config->C, "Inverse L2 regularisation strength (scikit-learn's C)")->capture_default_str();
  cmd->add_option("--group-by", *group_by,
                  "image: keep each base image on one side; profile: hold out whole profiles (new identities)")
      ->capture_default_str();
  cmd->add_option("--seed", config->seed, "Random seed (folds, control, bootstrap)")->capture_default_str();
  cmd->add_option("--layers", config->layers, "Layers to probe (default: all)")->delimiter(',');
  cmd->add_flag("--no-control", *no_control, "Skip the permuted-label control");
  cmd->add_option("--bootstrap", config->bootstrap, "Bootstrap resamples of groups for the 95 % interval")
      ->capture_default_str();
  cmd->add_option("--permutations", config->permutations, "With --compare: sign flips per layer")->capture_default_str();
  cmd->add_option("--folds-from", *folds_from, "Reuse the folds of an earlier run (its folds.json)");
  cmd->add_option("--tol", config->tolerance, "Solver tolerance: gradient norm relative to its value at w = 0")
      ->capture_default_str();

  cmd->callback([=] {
    config->split = parse_probe_split(*split);
    config->group_by = parse_probe_group_by(*group_by);
    config->control = !*no_control;
    if (compare->empty() && acts->empty()) {
      throw ConfigError(error_message("probe", "give --acts FILE, or --compare BASE TUNED"));
    }
    if (!compare->empty()) {
      CompareJob job;
      job.base = (*compare)[0];
      job.tuned = (*compare)[1];
      job.out = *out;
      job.folds_from = *folds_from;
      job.config = *config;
      std::printf("%s\n", compare_summary(run_compare_job(job)).c_str());
      return;
    }
    ProbeJob job;
    job.acts = *acts;
    job.out = *out;
    job.folds_from = *folds_from;
    job.config = *config;
    std::printf("%s\n", probe_summary(run_probe_job(job)).c_str());
  });
}

}  // namespace privprobe::cli
