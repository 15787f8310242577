// A privprobe with only the `probe` subcommand, dispatched as apps/privprobe/main.cpp does, so the
// CLI tests exercise cmd_probe.cpp on its own.
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>

#include "util/error.h"
#include "util/log.h"

namespace privprobe::cli {
void register_probe(CLI::App& app);
}

int main(int argc, char** argv) {
  CLI::App app{"privprobe (probe only, for tests)"};
  app.require_subcommand(1);
  privprobe::cli::register_probe(app);
  privprobe::init_logging(0);  // as main.cpp
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
