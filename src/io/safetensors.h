// Reading safetensors files (https://github.com/huggingface/safetensors, "Format"):
//
//   [8 bytes]  N, u64 little-endian: the header's length
//   [N bytes]  UTF-8 JSON object {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [B, E]},
//              ..., "__metadata__": {"key": "value"}}, possibly padded with trailing spaces
//   [rest]     the data buffer; a tensor's bytes are [B, E) relative to its start, little-endian,
//              row-major, packed
//
// The reader maps the file and checks everything before handing out a single pointer, as strictly
// as the reference implementation: header length inside the file and at most 100 MB; valid JSON;
// no duplicate keys; every entry complete and well typed; a known dtype; non-negative dimensions;
// shape x element size == E - B (overflow-checked); B <= E; no overlaps, no holes, and the last
// tensor ending exactly at the end of the file (the buffer is fully covered, so no bytes can hide
// in it). Any violation is a FormatError naming the file and, where there is one, the tensor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/dtype.h"
#include "io/mapped_file.h"

namespace privprobe {

// The reference implementation's limit on N.
inline constexpr std::uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;

// The free-form "__metadata__" string map (e.g. {"format": "pt"}).
using SafetensorsMetadata = std::map<std::string, std::string>;

struct TensorInfo {
  std::string name;
  Dtype dtype = Dtype::F32;
  std::vector<std::int64_t> shape;  // [] for a scalar
  std::uint64_t begin = 0;          // byte offsets into the data buffer, end exclusive
  std::uint64_t end = 0;

  std::uint64_t byte_size() const { return end - begin; }
  std::int64_t numel() const;  // product of shape (1 for a scalar)
};

// A read-only view of bytes (C++17 has no std::span). Valid while the file it points into is.
struct ByteView {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
};

// True when bytes.data is a multiple of dtype's element size, so the bytes can be used in place
// as an array of that type. Files written by privprobe or the reference are always aligned
// (header padded to 8 bytes, tensors ordered by decreasing element size); files from other
// writers may not be, and then the caller must copy.
bool is_aligned(const ByteView& bytes, Dtype dtype);

// A header after validation: tensors in header order.
struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;
  SafetensorsMetadata metadata;
  std::uint64_t data_offset = 0;  // 8 + N: where the data buffer starts in the file
  std::uint64_t data_size = 0;    // bytes in the data buffer
};

// Validates the whole file image `bytes` (header and data) as described above. `where` names
// the source in errors (the file's path). Throws FormatError.
SafetensorsHeader parse_safetensors(const std::uint8_t* bytes, std::size_t size, const std::string& where);

// "[2, 3]" for messages.
std::string format_shape(const std::vector<std::int64_t>& shape);

// An open, validated safetensors file. Cheap to copy: copies share the mapping.
class SafetensorsFile {
 public:
  // Maps and validates path. Throws IoError (cannot open or map) or FormatError (malformed).
  explicit SafetensorsFile(const std::filesystem::path& path, MapAccess access = MapAccess::kReadOnly);

  const std::filesystem::path& path() const { return mapping_->path(); }
  const std::vector<TensorInfo>& tensors() const { return header_.tensors; }  // header order
  const SafetensorsMetadata& metadata() const { return header_.metadata; }
  const SafetensorsHeader& header() const { return header_; }

  // nullptr when there is no tensor of that name.
  const TensorInfo* find(std::string_view name) const;
  // Throws DataError naming the file and the tensor when there is none.
  const TensorInfo& at(std::string_view name) const;

  // The tensor's bytes inside the mapping. Throws DataError if info's offsets do not fit this
  // file (an info taken from another file).
  ByteView data(const TensorInfo& info) const;
  ByteView data(std::string_view name) const { return data(at(name)); }

  // The mapping itself, for zero-copy tensors that must keep it alive.
  const std::shared_ptr<const MappedFile>& mapping() const { return mapping_; }

 private:
  std::shared_ptr<const MappedFile> mapping_;
  SafetensorsHeader header_;
  std::map<std::string, std::size_t, std::less<>> index_;  // name -> position in header_.tensors
};

}  // namespace privprobe
