// A whole file memory-mapped, private to this process: pages are read from disk (or the page cache)
// only when touched, so a multi-gigabyte checkpoint costs address space, not resident memory.
// The file is opened read-only and never modified. Held through shared_ptr so that tensors made
// over the mapping (torch::from_blob with a deleter) can keep it alive after the reader is gone.
//
// Caveat of every mmap reader: if another process truncates the file while it is mapped, touching
// the lost pages raises SIGBUS. privprobe writes files by rename, never in place, so its own
// outputs never do that.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>

namespace privprobe {

enum class MapAccess {
  kReadOnly,     // pages are read-only: a write through a pointer into them crashes
  kCopyOnWrite,  // pages may be written; the first write to a page copies it, the file never changes
};

class MappedFile {
 public:
  // Maps the whole file. Throws IoError naming the file (missing, a folder, unreadable, mmap failed).
  static std::shared_ptr<const MappedFile> open(const std::filesystem::path& path,
                                                MapAccess access = MapAccess::kReadOnly);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }
  MapAccess access() const { return access_; }

  // Drops the whole pages inside [begin, begin + size) from this process's resident memory once a
  // caller has copied what it needed (they stay in the page cache, and a later read maps them
  // again). Only for read-only mappings: in a copy-on-write one it would discard written pages,
  // so there it does nothing. A range outside the mapping is ignored.
  void release_pages(const std::uint8_t* begin, std::size_t size) const;

 private:
  MappedFile(std::filesystem::path path, const std::uint8_t* data, std::size_t size, MapAccess access);

  std::filesystem::path path_;
  const std::uint8_t* data_;  // nullptr for an empty file (mmap refuses length 0)
  std::size_t size_;
  MapAccess access_;
};

}  // namespace privprobe
