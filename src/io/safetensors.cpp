#include "io/safetensors.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "io/strict_json.h"
#include "util/error.h"

namespace privprobe {
namespace {

using Json = nlohmann::ordered_json;

// Root object > tensor entry > shape array; anything deeper is not a safetensors header.
constexpr std::size_t kHeaderMaxDepth = 3;

std::uint64_t read_u64_le(const std::uint8_t* p) {
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | p[i];
  return value;
}

std::string offsets_text(std::uint64_t begin, std::uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

// Parses one header entry; `where` already names the file.
TensorInfo parse_entry(const std::string& name, const Json& entry, const std::string& where) {
  const std::string tensor = where + ": tensor '" + name + "'";
  if (!entry.is_object()) {
    throw FormatError(error_message(tensor, std::string("entry must be an object, got ") + entry.type_name()));
  }
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    if (!entry.contains(field)) throw FormatError(error_message(tensor, std::string("missing field '") + field + "'"));
  }
  TensorInfo info;
  info.name = name;

  const Json& dtype = entry.at("dtype");
  if (!dtype.is_string()) {
    throw FormatError(error_message(tensor, std::string("field 'dtype' must be a string, got ") + dtype.type_name()));
  }
  const auto parsed = parse_dtype(dtype.get_ref<const std::string&>());
  if (!parsed) {
    throw FormatError(error_message(tensor, "unknown dtype '" + dtype.get<std::string>() + "'",
                                    "expected one of " + std::string(dtype_name_list())));
  }
  info.dtype = *parsed;

  const Json& shape = entry.at("shape");
  if (!shape.is_array()) {
    throw FormatError(error_message(tensor, std::string("field 'shape' must be an array, got ") + shape.type_name()));
  }
  for (const Json& dim : shape) {
    // nlohmann keeps non-negative integers as unsigned; signed ones are negative (or "-0").
    if (dim.is_number_integer() && !dim.is_number_unsigned() && dim.get<std::int64_t>() < 0) {
      throw FormatError(error_message(tensor, "negative dimension " + dim.dump() + " in shape " + shape.dump()));
    }
    if (!dim.is_number_integer()) {
      throw FormatError(error_message(tensor, "shape " + shape.dump() + " must hold non-negative integers"));
    }
    const std::uint64_t value = dim.is_number_unsigned() ? dim.get<std::uint64_t>() : 0;
    if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      throw FormatError(error_message(tensor, "dimension " + dim.dump() + " is too large"));
    }
    info.shape.push_back(static_cast<std::int64_t>(value));
  }

  const Json& offsets = entry.at("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    throw FormatError(error_message(tensor, "field 'data_offsets' must be [begin, end] with non-negative integers, got " +
                                                offsets.dump()));
  }
  info.begin = offsets[0].get<std::uint64_t>();
  info.end = offsets[1].get<std::uint64_t>();
  if (info.begin > info.end) {
    throw FormatError(error_message(tensor, "data_offsets " + offsets_text(info.begin, info.end) + " begin after they end"));
  }

  // shape x element size must equal the byte range, computed without overflow.
  std::uint64_t numel = 1;
  for (std::int64_t dim : info.shape) {
    if (__builtin_mul_overflow(numel, static_cast<std::uint64_t>(dim), &numel)) {
      throw FormatError(error_message(tensor, "shape " + format_shape(info.shape) + " has too many elements (overflow)"));
    }
  }
  std::uint64_t bytes = 0;
  if (numel > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
      __builtin_mul_overflow(numel, static_cast<std::uint64_t>(dtype_size(info.dtype)), &bytes)) {
    throw FormatError(error_message(tensor, "shape " + format_shape(info.shape) + " has too many elements (overflow)"));
  }
  if (bytes != info.byte_size()) {
    throw FormatError(error_message(
        tensor, "wrong byte length for the dtype: shape " + format_shape(info.shape) + " of " +
                    std::string(dtype_name(info.dtype)) + " (" + std::to_string(dtype_size(info.dtype)) +
                    " bytes each) needs " + std::to_string(bytes) + " bytes, but data_offsets " +
                    offsets_text(info.begin, info.end) + " hold " + std::to_string(info.byte_size())));
  }
  return info;
}

SafetensorsMetadata parse_metadata(const Json& value, const std::string& where) {
  if (!value.is_object()) {
    throw FormatError(error_message(where, std::string("'__metadata__' must be an object of strings, got ") +
                                               value.type_name()));
  }
  SafetensorsMetadata metadata;
  for (const auto& item : value.items()) {
    if (!item.value().is_string()) {
      throw FormatError(error_message(where, "'__metadata__' value for key '" + item.key() + "' must be a string, got " +
                                                 item.value().type_name()));
    }
    metadata.emplace(item.key(), item.value().get<std::string>());
  }
  return metadata;
}

// Offsets sorted must tile [0, data_size) exactly: no overlap, no hole, nothing after the last.
void check_layout(const std::vector<TensorInfo>& tensors, std::uint64_t data_size, const std::string& where) {
  for (const TensorInfo& info : tensors) {
    if (info.end > data_size) {
      throw FormatError(error_message(where + ": tensor '" + info.name + "'",
                                      "data_offsets " + offsets_text(info.begin, info.end) +
                                          " run past the end of the data buffer (" + std::to_string(data_size) +
                                          " bytes)",
                                      "the file is truncated or the header is wrong"));
    }
  }
  std::vector<const TensorInfo*> order;
  order.reserve(tensors.size());
  for (const TensorInfo& info : tensors) order.push_back(&info);
  std::stable_sort(order.begin(), order.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  std::uint64_t covered = 0;
  const TensorInfo* previous = nullptr;
  for (const TensorInfo* info : order) {
    if (info->begin < covered) {
      throw FormatError(error_message(where, "overlapping tensors: '" + previous->name + "' " +
                                                 offsets_text(previous->begin, previous->end) + " and '" + info->name +
                                                 "' " + offsets_text(info->begin, info->end)));
    }
    if (info->begin > covered) {
      const std::string gap = std::to_string(info->begin - covered) + " bytes of the data buffer ";
      throw FormatError(error_message(
          where + ": tensor '" + info->name + "'",
          previous == nullptr ? "the first " + gap + "belong to no tensor (holes are not allowed)"
                              : gap + "between '" + previous->name + "' and this tensor belong to no tensor (holes are not allowed)"));
    }
    covered = info->end;
    previous = info;
  }
  if (covered != data_size) {
    throw FormatError(error_message(where, "the last " + std::to_string(data_size - covered) +
                                               " bytes of the file belong to no tensor",
                                           "trailing data after the last tensor is not allowed"));
  }
}

}  // namespace

std::int64_t TensorInfo::numel() const {
  std::int64_t n = 1;
  for (std::int64_t dim : shape) n *= dim;  // validated against overflow when read or written
  return n;
}

bool is_aligned(const ByteView& bytes, Dtype dtype) {
  return reinterpret_cast<std::uintptr_t>(bytes.data) % dtype_size(dtype) == 0;
}

std::string format_shape(const std::vector<std::int64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

SafetensorsHeader parse_safetensors(const std::uint8_t* bytes, std::size_t size, const std::string& where) {
  if (size < 8) {
    throw FormatError(error_message(where, "file is " + std::to_string(size) +
                                               " bytes, too short for the 8-byte header length (truncated?)"));
  }
  const std::uint64_t header_size = read_u64_le(bytes);
  if (header_size > kSafetensorsMaxHeaderBytes) {
    throw FormatError(error_message(where, "header length " + std::to_string(header_size) + " is over the limit of " +
                                               std::to_string(kSafetensorsMaxHeaderBytes) + " bytes",
                                           "not a safetensors file?"));
  }
  if (header_size > size - 8) {
    throw FormatError(error_message(where, "header length " + std::to_string(header_size) +
                                               " runs past the end of the file (" + std::to_string(size) + " bytes)",
                                           "the file is truncated or not a safetensors file"));
  }
  const std::string_view text(reinterpret_cast<const char*>(bytes + 8), static_cast<std::size_t>(header_size));
  const Json header = parse_json_strict(text, where + ": header", kHeaderMaxDepth);
  if (!header.is_object()) {
    throw FormatError(error_message(where, std::string("header must be a JSON object, got ") + header.type_name()));
  }

  SafetensorsHeader result;
  result.data_offset = 8 + header_size;
  result.data_size = size - result.data_offset;
  result.tensors.reserve(header.size());
  for (const auto& item : header.items()) {
    if (item.key() == "__metadata__") {
      result.metadata = parse_metadata(item.value(), where);
    } else {
      result.tensors.push_back(parse_entry(item.key(), item.value(), where));
    }
  }
  check_layout(result.tensors, result.data_size, where);
  return result;
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path, MapAccess access)
    : mapping_(MappedFile::open(path, access)),
      header_(parse_safetensors(mapping_->data(), mapping_->size(), path.string())) {
  for (std::size_t i = 0; i < header_.tensors.size(); ++i) index_.emplace(header_.tensors[i].name, i);
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

const TensorInfo& SafetensorsFile::at(std::string_view name) const {
  const TensorInfo* info = find(name);
  if (info == nullptr) {
    throw DataError(error_message(path().string(), "no tensor named '" + std::string(name) + "'"));
  }
  return *info;
}

ByteView SafetensorsFile::data(const TensorInfo& info) const {
  if (info.begin > info.end || info.end > header_.data_size) {
    throw DataError(error_message(path().string() + ": tensor '" + info.name + "'",
                                  "offsets " + offsets_text(info.begin, info.end) + " do not belong to this file"));
  }
  // A valid file is at least 8 bytes, so the mapping exists; end <= data_size keeps the pointer in it.
  return ByteView{mapping_->data() + header_.data_offset + info.begin, static_cast<std::size_t>(info.byte_size())};
}

}  // namespace privprobe
