// Helpers shared by the tests: a fresh temporary folder per test, running the privprobe binary.
#pragma once

#include <exception>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace privprobe::test {

// A new empty folder under the system temp dir, removed when the object goes away
// (kept when PRIVPROBE_KEEP_TEST_DIRS is set, for debugging).
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = 0;
  std::string output;  // stdout and stderr together
};

// Runs the built privprobe binary with the given arguments (no shell interpretation of args).
CommandResult run_privprobe(const std::vector<std::string>& args);

// Runs any program the same way (argv[0] is its path).
CommandResult run_binary(const std::filesystem::path& program, const std::vector<std::string>& args);

// ../shared/data/<name> if it exists, else empty.
std::filesystem::path shared_data(const std::string& name);

// Writes text to a file (creating folders), for fixtures.
void write_text(const std::filesystem::path& path, const std::string& text);

// Every file under dir (relative path -> sha256), for byte-identity comparisons of whole outputs.
std::vector<std::pair<std::string, std::string>> hash_tree(const std::filesystem::path& dir);

// The message of the E that fn throws; otherwise a text saying what happened instead, which no
// test's expected message contains, so a check of the message fails.
template <typename E>
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("wrong exception type: ") + e.what();
  }
  return "no exception";
}

}  // namespace privprobe::test
