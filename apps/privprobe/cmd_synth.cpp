#include "commands.h"

namespace privprobe::cli {

void register_synth(CLI::App& app) { (void)app; }

}  // namespace privprobe::cli
