// Each subcommand lives in cmd_<name>.cpp: it declares its flags on a CLI11 subcommand, parses
// them into the stage's config struct and calls the stage. Nothing else happens here.
#pragma once

#include <CLI/CLI.hpp>

namespace privprobe::cli {

void register_profiles(CLI::App& app);
void register_synth(CLI::App& app);
void register_embed(CLI::App& app);
void register_probeset(CLI::App& app);
void register_merge(CLI::App& app);
void register_report(CLI::App& app);
void register_probe(CLI::App& app);
#ifdef PRIVPROBE_WITH_TORCH
void register_doctor(CLI::App& app);
void register_train(CLI::App& app);
void register_dynamics(CLI::App& app);
void register_extract(CLI::App& app);
void register_ask(CLI::App& app);
void register_eval(CLI::App& app);
void register_study(CLI::App& app);
#endif

}  // namespace privprobe::cli
