// privprobe, the binary users run where the model stages are built. `probe` runs in this process,
// which loads neither libtorch nor OpenCV: loading those costs about 0.7 s, as long as probing the
// benchmark's 32 layers takes. Every other command, and the overall help and version, is run by
// privprobe-full beside this binary: this process becomes it (execv), arguments unchanged.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <system_error>

#include "cli_main.h"
#include "commands.h"

namespace {

// The subcommand named on the command line: the first argument that is not a global flag (or a
// flag such as --help, which privprobe-full answers).
std::string_view command_of(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg != "-v" && arg != "--verbose" && arg != "-q" && arg != "--quiet") return arg;
  }
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  if (command_of(argc, argv) == "probe") {
    return privprobe::cli::run_cli(argc, argv, privprobe::cli::kDescription,
                                   [](CLI::App& app) { privprobe::cli::register_probe(app); });
  }
  std::error_code error;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) self = argv[0];
  const std::filesystem::path full = self.parent_path() / "privprobe-full";
  ::execv(full.c_str(), argv);
  std::fprintf(stderr, "privprobe: error: %s: cannot run it (%s); every command but `probe` is there, beside %s\n",
               full.c_str(), std::strerror(errno), self.c_str());
  return 127;
}
