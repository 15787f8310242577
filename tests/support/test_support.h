// Helpers shared by the tests: a fresh temporary folder per test, running the privprobe binary.
#pragma once

#include <filesystem>
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

// ../shared/data/<name> if it exists, else empty.
std::filesystem::path shared_data(const std::string& name);

// Writes text to a file (creating folders), for fixtures.
void write_text(const std::filesystem::path& path, const std::string& text);

// Every file under dir (relative path -> sha256), for byte-identity comparisons of whole outputs.
std::vector<std::pair<std::string, std::string>> hash_tree(const std::filesystem::path& dir);

}  // namespace privprobe::test
