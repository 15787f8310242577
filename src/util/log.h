// Logging goes to stderr through spdlog; stdout is kept for results a user may pipe.
#pragma once

#include <spdlog/spdlog.h>

namespace privprobe {

// Creates the stderr logger. verbosity: -1 quiet (warnings and errors), 0 info, 1 debug.
void init_logging(int verbosity);
// Changes the level of the existing logger.
void init_logging_level(int verbosity);

}  // namespace privprobe
