#include "util/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace privprobe {

void init_logging(int verbosity) {
  auto logger = spdlog::get("privprobe");
  if (!logger) logger = spdlog::stderr_color_mt("privprobe");
  logger->set_pattern("privprobe: %^%l%$: %v");
  spdlog::set_default_logger(logger);
  init_logging_level(verbosity);
}

void init_logging_level(int verbosity) {
  spdlog::set_level(verbosity < 0 ? spdlog::level::warn : verbosity == 0 ? spdlog::level::info : spdlog::level::debug);
}

}  // namespace privprobe
