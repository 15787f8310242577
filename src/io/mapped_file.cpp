#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <string>

#include "util/error.h"

namespace privprobe {
namespace {

// Closes the descriptor on every path out of open(); the mapping outlives it.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

[[noreturn]] void throw_errno(const std::filesystem::path& path, const std::string& what) {
  throw IoError(error_message(path.string(), what + ": " + std::strerror(errno)));
}

}  // namespace

std::shared_ptr<const MappedFile> MappedFile::open(const std::filesystem::path& path, MapAccess access) {
  // O_NONBLOCK: a FIFO must not block the open; it is refused below as not a regular file.
  const FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) throw_errno(path, "cannot open");
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) throw_errno(path, "cannot stat");
  if (S_ISDIR(info.st_mode)) throw IoError(error_message(path.string(), "is a folder, not a file"));
  if (!S_ISREG(info.st_mode)) throw IoError(error_message(path.string(), "is not a regular file"));
  if (info.st_size < 0 ||
      static_cast<std::uint64_t>(info.st_size) > std::numeric_limits<std::size_t>::max()) {
    throw IoError(error_message(path.string(), "file too large to map on this platform"));
  }
  // Owned before mapping so that nothing after mmap can leak it.
  std::shared_ptr<MappedFile> file(new MappedFile(path, nullptr, 0, access));
  const auto size = static_cast<std::size_t>(info.st_size);
  if (size > 0) {
    const int protection = access == MapAccess::kCopyOnWrite ? (PROT_READ | PROT_WRITE) : PROT_READ;
    void* mapped = ::mmap(nullptr, size, protection, MAP_PRIVATE, fd.get(), 0);
    if (mapped == MAP_FAILED) throw_errno(path, "cannot memory-map");
    file->data_ = static_cast<const std::uint8_t*>(mapped);
    file->size_ = size;
  }
  return file;
}

MappedFile::MappedFile(std::filesystem::path path, const std::uint8_t* data, std::size_t size, MapAccess access)
    : path_(std::move(path)), data_(data), size_(size), access_(access) {}

void MappedFile::release_pages(const std::uint8_t* begin, std::size_t size) const {
  if (access_ != MapAccess::kReadOnly || data_ == nullptr || size == 0) return;
  const auto start = reinterpret_cast<std::uintptr_t>(data_), at = reinterpret_cast<std::uintptr_t>(begin);
  if (at < start || at - start > size_ || size > size_ - (at - start)) return;
  // Rounded inwards to whole pages, so the advice never reaches bytes outside the range.
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto first = (at + page - 1) / page * page;
  const auto last = (at + size) / page * page;
  if (last <= first) return;
  // Advice only: a failure leaves the pages resident, which costs memory but not correctness.
  ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<std::uint8_t*>(data_), size_);
}

}  // namespace privprobe
