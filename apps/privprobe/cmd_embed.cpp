#include "commands.h"

namespace privprobe::cli {

void register_embed(CLI::App& app) { (void)app; }

}  // namespace privprobe::cli
