#include "commands.h"

namespace privprobe::cli {

void register_profiles(CLI::App& app) { (void)app; }

}  // namespace privprobe::cli
