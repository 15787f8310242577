// privprobe with every subcommand (privprobe-full where the model stages are built; see
// front.cpp). Dispatch only: each subcommand is registered from its cmd_<name>.cpp.
#include "cli_main.h"
#include "commands.h"

int main(int argc, char** argv) {
  return privprobe::cli::run_cli(argc, argv, privprobe::cli::kDescription, [](CLI::App& app) {
    privprobe::cli::register_profiles(app);
    privprobe::cli::register_synth(app);
    privprobe::cli::register_embed(app);
    privprobe::cli::register_probeset(app);
    privprobe::cli::register_merge(app);
    privprobe::cli::register_report(app);
    privprobe::cli::register_probe(app);
#ifdef PRIVPROBE_WITH_TORCH
    privprobe::cli::register_train(app);
    privprobe::cli::register_dynamics(app);
    privprobe::cli::register_extract(app);
    privprobe::cli::register_ask(app);
    privprobe::cli::register_eval(app);
    privprobe::cli::register_study(app);
    privprobe::cli::register_doctor(app);
#endif
  });
}
