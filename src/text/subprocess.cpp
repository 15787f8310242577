#include "text/subprocess.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "util/error.h"

namespace privprobe {

namespace fs = std::filesystem;

fs::path find_program(std::string_view name) {
  if (name.empty()) return {};
  std::error_code ec;
  if (name.find('/') != std::string_view::npos) {
    return ::access(std::string(name).c_str(), X_OK) == 0 ? fs::path(name) : fs::path();
  }
  const char* path_env = std::getenv("PATH");
  const std::string paths = path_env ? path_env : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= paths.size()) {
    std::size_t end = paths.find(':', start);
    if (end == std::string::npos) end = paths.size();
    const std::string dir = paths.substr(start, end - start);
    const fs::path candidate = fs::path(dir.empty() ? "." : dir) / std::string(name);
    if (fs::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return {};
}

namespace {

int open_or_throw(const fs::path& path, int flags, const std::string& program) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw IoError(error_message(path.string(), std::string("cannot open for ") + program + ": " + std::strerror(errno)));
  }
  return fd;
}

}  // namespace

int run_process(const ProcessSpec& spec) {
  if (spec.argv.empty()) throw IoError(error_message("run_process", "no program given"));
  const std::string& program = spec.argv[0];
  const fs::path executable = find_program(program);
  if (executable.empty()) {
    throw IoError(error_message(program, "program not found in PATH"));
  }
  // Everything that can fail is prepared before fork; the child only redirects and execs.
  const fs::path null_device = "/dev/null";
  const int in_fd = open_or_throw(spec.stdin_file.empty() ? null_device : spec.stdin_file, O_RDONLY, program);
  int out_fd = -1, err_fd = -1;
  try {
    out_fd = open_or_throw(spec.stdout_file.empty() ? null_device : spec.stdout_file, O_WRONLY | O_CREAT | O_TRUNC,
                           program);
    err_fd = open_or_throw(spec.stderr_file.empty() ? null_device : spec.stderr_file, O_WRONLY | O_CREAT | O_TRUNC,
                           program);
  } catch (...) {
    ::close(in_fd);
    if (out_fd >= 0) ::close(out_fd);
    throw;
  }
  std::vector<std::string> args = spec.argv;
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const std::string exe = executable.string();
  const std::string dir = spec.working_dir.string();

  const pid_t pid = ::fork();
  if (pid == 0) {
    if (!dir.empty() && ::chdir(dir.c_str()) != 0) ::_exit(126);
    if (::dup2(in_fd, STDIN_FILENO) < 0 || ::dup2(out_fd, STDOUT_FILENO) < 0 || ::dup2(err_fd, STDERR_FILENO) < 0) {
      ::_exit(126);
    }
    ::execv(exe.c_str(), argv.data());
    ::_exit(127);
  }
  const int fork_errno = errno;
  ::close(in_fd);
  ::close(out_fd);
  ::close(err_fd);
  if (pid < 0) throw IoError(error_message(program, std::string("cannot start: ") + std::strerror(fork_errno)));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw IoError(error_message(program, std::string("waitpid failed: ") + std::strerror(errno)));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace privprobe
