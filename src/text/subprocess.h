// Running an external program (spm_train) without a shell: arguments are passed as they are,
// standard streams go to files, and the exit status comes back.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace privprobe {

struct ProcessSpec {
  std::vector<std::string> argv;       // argv[0]: a program name looked up in PATH, or a path
  std::filesystem::path working_dir;   // empty: the current folder
  std::filesystem::path stdin_file;    // empty: /dev/null
  std::filesystem::path stdout_file;   // empty: /dev/null
  std::filesystem::path stderr_file;   // empty: /dev/null
};

// Full path of `name` found in PATH (or `name` itself when it contains a '/' and exists);
// empty when not found.
std::filesystem::path find_program(std::string_view name);

// Runs the program and waits. Returns its exit status, or 128 + signal number when killed.
// Throws IoError when the program is not found or a redirection file cannot be opened.
int run_process(const ProcessSpec& spec);

}  // namespace privprobe
