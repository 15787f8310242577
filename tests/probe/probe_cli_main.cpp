// A privprobe with only the `probe` subcommand, dispatched as the real binaries are (cli_main.cpp),
// so the CLI tests exercise cmd_probe.cpp on its own in every build.
#include "cli_main.h"
#include "commands.h"

int main(int argc, char** argv) {
  return privprobe::cli::run_cli(argc, argv, "privprobe (probe only, for tests)",
                                 [](CLI::App& app) { privprobe::cli::register_probe(app); });
}
