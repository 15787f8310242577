#include "util/atomic_file.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "util/error.h"

namespace fs = std::filesystem;

namespace privprobe {
namespace {

std::atomic<std::uint64_t> g_temp_counter{0};

void ensure_parent(const fs::path& path) {
  const fs::path parent = path.parent_path();
  if (parent.empty()) return;
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) {
    throw IoError(error_message(parent.string(), "cannot create folder: " + ec.message()));
  }
}

}  // namespace

fs::path temp_path_for(const fs::path& path) {
  const std::uint64_t n = g_temp_counter.fetch_add(1);
  std::string name = "." + path.filename().string() + std::string(kTempMarker) +
                     std::to_string(::getpid()) + "-" + std::to_string(n);
  return path.parent_path() / name;
}

void commit_rename(const fs::path& temp, const fs::path& path) {
  std::error_code ec;
  fs::rename(temp, path, ec);
  if (ec) {
    fs::remove(temp, ec);
    throw IoError(error_message(path.string(), "cannot move finished file into place: " + ec.message()));
  }
}

void write_file_atomic(const fs::path& path, std::string_view bytes) {
  ensure_parent(path);
  const fs::path temp = temp_path_for(path);
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) {
      throw IoError(error_message(path.string(), std::string("cannot open for writing: ") + std::strerror(errno)));
    }
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      std::error_code ec;
      out.close();
      fs::remove(temp, ec);
      throw IoError(error_message(path.string(), "write failed (disk full?)"));
    }
  }
  commit_rename(temp, path);
}

void write_file_atomic(const fs::path& path, const std::vector<std::uint8_t>& bytes) {
  write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

AtomicFile::AtomicFile(fs::path path) : path_(std::move(path)) {
  ensure_parent(path_);
  temp_path_ = temp_path_for(path_);
  stream_.open(temp_path_, std::ios::binary | std::ios::trunc);
  if (!stream_) {
    throw IoError(error_message(path_.string(), std::string("cannot open for writing: ") + std::strerror(errno)));
  }
}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    stream_.close();
    std::error_code ec;
    fs::remove(temp_path_, ec);
  }
}

void AtomicFile::commit() {
  stream_.flush();
  const bool ok = static_cast<bool>(stream_);
  stream_.close();
  if (!ok) {
    std::error_code ec;
    fs::remove(temp_path_, ec);
    committed_ = true;  // nothing left to clean up
    throw IoError(error_message(path_.string(), "write failed (disk full?)"));
  }
  commit_rename(temp_path_, path_);
  committed_ = true;
}

std::size_t remove_stale_temp_files(const fs::path& dir) {
  std::size_t removed = 0;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return 0;
  std::vector<fs::path> stale;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->path().filename().string().find(kTempMarker) != std::string::npos) stale.push_back(it->path());
  }
  for (const auto& p : stale) {
    if (fs::remove(p, ec)) ++removed;
  }
  return removed;
}

std::string read_file(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw IoError(error_message(path.string(), "is a folder, not a file"));
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw IoError(error_message(path.string(), std::string("cannot open: ") + std::strerror(errno)));
  }
  std::string data;
  in.seekg(0, std::ios::end);
  const auto size = in.tellg();
  if (size < 0) throw IoError(error_message(path.string(), "cannot determine file size"));
  data.resize(static_cast<std::size_t>(size));
  in.seekg(0, std::ios::beg);
  in.read(data.data(), size);
  if (!in) throw IoError(error_message(path.string(), "read failed"));
  return data;
}

std::vector<std::uint8_t> read_file_bytes(const fs::path& path) {
  const std::string s = read_file(path);
  return std::vector<std::uint8_t>(s.begin(), s.end());
}

}  // namespace privprobe
