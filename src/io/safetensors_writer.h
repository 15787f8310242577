// Writing safetensors files, byte-compatible with the reference implementation's serializer:
//
// - Data layout: tensors sorted by decreasing element size (the reference's dtype order: U64, I64,
//   F64, F32, U32, I32, BF16, F16, U16, I16, F8_E4M3, F8_E5M2, I8, U8, BOOL), then by name
//   (byte-wise). Independent of the order given, so the same tensors always give the same bytes,
//   and every tensor starts at a multiple of its element size (usable in place once mapped).
// - Header: compact JSON, "__metadata__" first (keys sorted; omitted when empty), then the tensors
//   in data order, each as {"dtype":...,"shape":[...],"data_offsets":[b,e]}; padded with spaces
//   to a multiple of 8 bytes.
// The same tensors and metadata (at most one metadata key, since the reference does not order
// them) give exactly the bytes of Python's safetensors `save_file`.
//
// Files are written atomically (util/atomic_file.h): a temporary name, renamed when complete.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "io/dtype.h"
#include "io/safetensors.h"
#include "util/atomic_file.h"

namespace privprobe {

// Name, dtype and shape of a tensor to write.
struct TensorSpec {
  std::string name;
  Dtype dtype = Dtype::F32;
  std::vector<std::int64_t> shape;
};

// A tensor to write with its bytes (little-endian, row-major, packed). The bytes are not copied
// and must stay valid during the call; size must equal numel x element size.
struct TensorToWrite {
  std::string name;
  Dtype dtype = Dtype::F32;
  std::vector<std::int64_t> shape;
  const void* data = nullptr;
  std::size_t size = 0;
};

// Sorts specs into the data layout described above and gives each its offsets. Throws DataError
// naming `where` and the tensor for: an empty or duplicate name, the reserved name "__metadata__",
// a negative dimension, or a size that overflows.
std::vector<TensorInfo> plan_safetensors_layout(const std::vector<TensorSpec>& specs, const std::string& where);

// The same for tensors with their bytes, also checking that each byte count matches its dtype
// and shape (DataError otherwise).
std::vector<TensorInfo> plan_safetensors_layout(const std::vector<TensorToWrite>& tensors, const std::string& where);

// The first 8 + N bytes of the file for that layout: length prefix, JSON, padding. Throws
// DataError if a name or metadata string is not valid UTF-8 or the header exceeds the reader's limit.
std::string build_safetensors_header(const std::vector<TensorInfo>& layout, const SafetensorsMetadata& metadata,
                                     const std::string& where);

// The whole file in memory (for small files and tests).
std::string serialize_safetensors(const std::vector<TensorToWrite>& tensors, const SafetensorsMetadata& metadata = {});

// Writes the file atomically, streaming the data (no copy of it in memory). Throws DataError
// (bad tensors, as above, or a byte size that disagrees with dtype and shape) or IoError.
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const SafetensorsMetadata& metadata = {});

// For outputs too large to hold: all tensors are declared up front, the header is written at
// once, then each tensor's bytes arrive in pieces, in order within that tensor (e.g. activation
// rows batch by batch), tensors in any order. finish() checks that every byte arrived and renames
// the file into place; destroyed without finish(), nothing appears under the final name.
class SafetensorsStreamWriter {
 public:
  SafetensorsStreamWriter(std::filesystem::path path, const std::vector<TensorSpec>& tensors,
                          const SafetensorsMetadata& metadata = {});
  SafetensorsStreamWriter(const SafetensorsStreamWriter&) = delete;
  SafetensorsStreamWriter& operator=(const SafetensorsStreamWriter&) = delete;

  // Appends size bytes to the named tensor. Throws DataError for an unknown name, for more bytes
  // than the tensor holds, or after finish(); IoError if the write fails.
  void append(std::string_view name, const void* bytes, std::size_t size);

  // Bytes the named tensor still expects.
  std::uint64_t remaining(std::string_view name) const;

  // Throws DataError naming the first tensor still missing bytes (the file is then discarded
  // when the writer is destroyed), IoError if the final write or rename fails.
  void finish();

  // The tensors in data order, with their offsets.
  const std::vector<TensorInfo>& layout() const { return layout_; }
  const std::filesystem::path& path() const { return file_.path(); }

 private:
  std::size_t index_of(std::string_view name) const;

  AtomicFile file_;
  std::vector<TensorInfo> layout_;
  std::vector<std::uint64_t> written_;  // bytes received per tensor, by layout position
  std::map<std::string, std::size_t, std::less<>> index_;
  std::uint64_t data_offset_ = 0;  // where the data buffer starts in the file
  std::uint64_t position_ = 0;     // the stream's current write position, to skip needless seeks
  bool finished_ = false;
};

}  // namespace privprobe
