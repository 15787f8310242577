#include "cli_main.h"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "util/error.h"
#include "util/log.h"
#include "util/version.h"

namespace privprobe::cli {

int run_cli(int argc, char** argv, const char* description, const std::function<void(CLI::App&)>& register_commands) {
  CLI::App app{description};
  app.set_version_flag("--version", std::string("privprobe ") + version() + " (git " + git_revision() + ")");
  int verbosity = 0;
  app.add_flag_callback("-v,--verbose", [&] { verbosity = 1; }, "More log output");
  app.add_flag_callback("-q,--quiet", [&] { verbosity = -1; }, "Only warnings and errors");
  app.require_subcommand(1);
  app.fallthrough();
  register_commands(app);

  // Logging must exist before subcommand callbacks run; -v/-q adjust its level afterwards.
  init_logging(0);
  app.parse_complete_callback([&] {
    init_logging_level(verbosity);
    if (verbosity < 0) ::setenv("PRIVPROBE_QUIET", "1", 1);  // -q also silences progress bars
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const Error& e) {
    std::fprintf(stderr, "privprobe: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "privprobe: error: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace privprobe::cli
