// privprobe: audits whether multimodal LLMs memorise task-irrelevant private content.
// Dispatch only: each subcommand is registered from its cmd_<name>.cpp.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "util/error.h"
#include "util/log.h"
#include "util/version.h"

int main(int argc, char** argv) {
  CLI::App app{"privprobe: audit whether multimodal LLMs memorise task-irrelevant private content"};
  app.set_version_flag("--version", std::string("privprobe ") + privprobe::version() + " (git " +
                                        privprobe::git_revision() + ")");
  int verbosity = 0;
  app.add_flag_callback("-v,--verbose", [&] { verbosity = 1; }, "More log output");
  app.add_flag_callback("-q,--quiet", [&] { verbosity = -1; }, "Only warnings and errors");
  app.require_subcommand(1);
  app.fallthrough();

  privprobe::cli::register_profiles(app);
  privprobe::cli::register_synth(app);
  privprobe::cli::register_embed(app);
  privprobe::cli::register_probeset(app);
  privprobe::cli::register_merge(app);
  privprobe::cli::register_report(app);
#ifdef PRIVPROBE_WITH_TORCH
  privprobe::cli::register_train(app);
  privprobe::cli::register_dynamics(app);
  privprobe::cli::register_extract(app);
  privprobe::cli::register_probe(app);
  privprobe::cli::register_ask(app);
  privprobe::cli::register_eval(app);
  privprobe::cli::register_study(app);
  privprobe::cli::register_doctor(app);
#endif

  // Logging must exist before subcommand callbacks run; -v/-q adjust its level afterwards.
  privprobe::init_logging(0);
  app.parse_complete_callback([&] {
    privprobe::init_logging_level(verbosity);
    if (verbosity < 0) ::setenv("PRIVPROBE_QUIET", "1", 1);  // -q also silences progress bars
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const privprobe::Error& e) {
    std::fprintf(stderr, "privprobe: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "privprobe: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
