// Atomic writes: data goes to a temporary name in the destination's folder and is renamed onto
// the final name only when complete, so a killed run never leaves a half-written output under a
// final name. Temporary names contain kTempMarker so a later run can find and remove them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace privprobe {

inline constexpr std::string_view kTempMarker = ".pp-tmp-";

// Writes bytes to path atomically (creating parent folders). Throws IoError.
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);
void write_file_atomic(const std::filesystem::path& path, const std::vector<std::uint8_t>& bytes);

// Streaming variant: write to stream(), then commit(). Destroyed without commit(), the temporary
// file is removed and the final name is untouched.
class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  std::ofstream& stream() { return stream_; }
  const std::filesystem::path& temp_path() const { return temp_path_; }
  const std::filesystem::path& path() const { return path_; }
  void commit();

 private:
  std::filesystem::path path_;
  std::filesystem::path temp_path_;
  std::ofstream stream_;
  bool committed_ = false;
};

// A temporary name beside path for this process and call (unique across threads).
std::filesystem::path temp_path_for(const std::filesystem::path& path);

// Renames temp onto path (same folder), throwing IoError naming path on failure.
void commit_rename(const std::filesystem::path& temp, const std::filesystem::path& path);

// Removes leftover temporary files (names containing kTempMarker) under dir, recursively.
// Returns how many were removed. Used when resuming after a killed run.
std::size_t remove_stale_temp_files(const std::filesystem::path& dir);

// Reads a whole file. Throws IoError naming the file.
std::string read_file(const std::filesystem::path& path);
std::vector<std::uint8_t> read_file_bytes(const std::filesystem::path& path);

}  // namespace privprobe
