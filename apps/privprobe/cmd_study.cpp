// `privprobe study`: flags -> StudyOptions -> run_study (see src/study/study.h, docs/study.md).
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "study/study.h"
#include "study/study_config.h"

namespace privprobe::cli {

void register_study(CLI::App& app) {
  auto* cmd = app.add_subcommand("study", "Run the whole experiment (album, profiles, arms x seeds, probes, report), cached by stage");
  auto options = std::make_shared<StudyOptions>();
  auto seed = std::make_shared<std::uint64_t>(0);
  auto print_config = std::make_shared<bool>(false);
  cmd->add_option("config", options->config_file, "TOML config laid over the embedded default (docs/study.md)");
  cmd->add_option("--out", options->out, "Study folder (default: [study] out, i.e. ./study)");
  cmd->add_option("--preset", options->preset,
                  "A preset laid over the default before CONFIG: reading (a base that learns to read text; docs/study.md)");
  cmd->add_flag("--quick", options->quick, "Tiny sizes ([quick.*] of the config): about a minute, for tests and a first look");
  cmd->add_option("--force", options->force,
                  "Rerun a stage even when cached, and what reads it: a name (finetune:r0.5-s0), a kind (finetune) or all; repeatable")
      ->allow_extra_args(false);
  auto* seed_option = cmd->add_option("--seed", *seed, "Overrides [study] seed (album, profiles, watermarks, base model, folds)");
  cmd->add_flag("--print-config", *print_config, "Print the resolved configuration as TOML and exit");
  cmd->callback([=] {
    if (seed_option->count() > 0) options->seed = *seed;
    if (*print_config) {
      StudyConfig config = load_study_config(options->config_file, options->quick, options->preset);
      if (options->seed) config.study.seed = *options->seed;
      std::fputs(study_config_to_toml(config).c_str(), stdout);
      return;
    }
    run_study(*options);
  });
}

}  // namespace privprobe::cli
