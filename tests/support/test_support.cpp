#include "support/test_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include "util/sha256.h"

namespace fs = std::filesystem;

namespace privprobe::test {

TempDir::TempDir(const std::string& tag) {
  static std::atomic<int> counter{0};
  path_ = fs::temp_directory_path() /
          ("privprobe-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  fs::remove_all(path_);
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  if (std::getenv("PRIVPROBE_KEEP_TEST_DIRS")) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

CommandResult run_privprobe(const std::vector<std::string>& args) { return run_binary(PRIVPROBE_BINARY, args); }

CommandResult run_binary(const std::filesystem::path& program, const std::vector<std::string>& args) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::dup2(pipe_fds[1], STDERR_FILENO);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    std::vector<char*> argv;
    std::string binary = program.string();
    argv.push_back(binary.data());
    std::vector<std::string> copies = args;
    for (auto& a : copies) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::setenv("PRIVPROBE_QUIET", "1", 1);
    ::execv(binary.c_str(), argv.data());
    std::_Exit(127);
  }
  ::close(pipe_fds[1]);
  CommandResult result;
  std::array<char, 4096> buffer;
  ssize_t got;
  while ((got = ::read(pipe_fds[0], buffer.data(), buffer.size())) > 0) {
    result.output.append(buffer.data(), static_cast<std::size_t>(got));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

fs::path shared_data(const std::string& name) {
  const fs::path p = fs::path(PRIVPROBE_SHARED_DATA) / name;
  std::error_code ec;
  return fs::exists(p, ec) ? p : fs::path();
}

void write_text(const fs::path& path, const std::string& text) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::vector<std::pair<std::string, std::string>> hash_tree(const fs::path& dir) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    out.emplace_back(entry.path().lexically_relative(dir).generic_string(), sha256_file(entry.path()));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace privprobe::test
