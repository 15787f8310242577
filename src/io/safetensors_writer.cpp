#include "io/safetensors_writer.h"

#include <algorithm>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace fs = std::filesystem;

namespace privprobe {
namespace {

// The reference's Dtype enum order (increasing alignment); its writer sorts by it, descending.
int reference_rank(Dtype dtype) {
  switch (dtype) {
    case Dtype::BOOL: return 0;
    case Dtype::U8: return 1;
    case Dtype::I8: return 2;
    case Dtype::F8_E5M2: return 3;
    case Dtype::F8_E4M3: return 4;
    case Dtype::I16: return 5;
    case Dtype::U16: return 6;
    case Dtype::F16: return 7;
    case Dtype::BF16: return 8;
    case Dtype::I32: return 9;
    case Dtype::U32: return 10;
    case Dtype::F32: return 11;
    case Dtype::F64: return 12;
    case Dtype::I64: return 13;
    case Dtype::U64: return 14;
  }
  return 0;
}

std::string tensor_where(const std::string& where, const std::string& name) {
  return where + ": tensor '" + name + "'";
}

// JSON string literal, as serde_json writes it (control characters escaped, UTF-8 kept).
std::string quote(const std::string& text, const std::string& where) {
  try {
    return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
  } catch (const nlohmann::json::type_error&) {
    throw DataError(error_message(where, "not valid UTF-8"));
  }
}

void put_u64_le(std::string& out, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xffu));
}

std::vector<TensorSpec> specs_of(const std::vector<TensorToWrite>& tensors) {
  std::vector<TensorSpec> specs;
  specs.reserve(tensors.size());
  for (const TensorToWrite& t : tensors) specs.push_back(TensorSpec{t.name, t.dtype, t.shape});
  return specs;
}

// The tensors by name, for writing in layout order.
std::map<std::string, const TensorToWrite*> by_name(const std::vector<TensorToWrite>& tensors) {
  std::map<std::string, const TensorToWrite*> map;
  for (const TensorToWrite& t : tensors) map.emplace(t.name, &t);
  return map;
}

}  // namespace

std::vector<TensorInfo> plan_safetensors_layout(const std::vector<TensorSpec>& specs, const std::string& where) {
  std::vector<TensorInfo> layout;
  layout.reserve(specs.size());
  std::set<std::string> names;
  for (const TensorSpec& spec : specs) {
    if (spec.name.empty()) throw DataError(error_message(where, "a tensor has an empty name"));
    if (spec.name == "__metadata__") {
      throw DataError(error_message(where, "'__metadata__' is reserved and cannot name a tensor"));
    }
    if (!names.insert(spec.name).second) throw DataError(error_message(tensor_where(where, spec.name), "given twice"));
    std::uint64_t numel = 1;
    for (std::int64_t dim : spec.shape) {
      if (dim < 0) {
        throw DataError(error_message(tensor_where(where, spec.name), "negative dimension in shape " + format_shape(spec.shape)));
      }
      if (__builtin_mul_overflow(numel, static_cast<std::uint64_t>(dim), &numel)) {
        throw DataError(error_message(tensor_where(where, spec.name), "shape " + format_shape(spec.shape) + " overflows"));
      }
    }
    std::uint64_t bytes = 0;
    if (numel > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
        __builtin_mul_overflow(numel, static_cast<std::uint64_t>(dtype_size(spec.dtype)), &bytes)) {
      throw DataError(error_message(tensor_where(where, spec.name), "shape " + format_shape(spec.shape) + " overflows"));
    }
    layout.push_back(TensorInfo{spec.name, spec.dtype, spec.shape, 0, bytes});  // end holds the size for now
  }
  std::sort(layout.begin(), layout.end(), [](const TensorInfo& a, const TensorInfo& b) {
    const int rank_a = reference_rank(a.dtype);
    const int rank_b = reference_rank(b.dtype);
    return rank_a != rank_b ? rank_a > rank_b : a.name < b.name;
  });
  std::uint64_t offset = 0;
  for (TensorInfo& info : layout) {
    const std::uint64_t size = info.end;
    if (__builtin_add_overflow(offset, size, &info.end)) {
      throw DataError(error_message(where, "total data size overflows"));
    }
    info.begin = offset;
    offset = info.end;
  }
  return layout;
}

std::vector<TensorInfo> plan_safetensors_layout(const std::vector<TensorToWrite>& tensors, const std::string& where) {
  std::vector<TensorInfo> layout = plan_safetensors_layout(specs_of(tensors), where);
  const auto tensor_by_name = by_name(tensors);
  for (const TensorInfo& info : layout) {
    const TensorToWrite& t = *tensor_by_name.at(info.name);
    if (t.size != info.byte_size()) {
      throw DataError(error_message(tensor_where(where, info.name),
                                    std::to_string(t.size) + " bytes given, but shape " + format_shape(info.shape) +
                                        " of " + std::string(dtype_name(info.dtype)) + " needs " +
                                        std::to_string(info.byte_size())));
    }
    if (t.data == nullptr && t.size > 0) throw DataError(error_message(tensor_where(where, info.name), "no data given"));
  }
  return layout;
}

std::string build_safetensors_header(const std::vector<TensorInfo>& layout, const SafetensorsMetadata& metadata,
                                     const std::string& where) {
  std::string json = "{";
  if (!metadata.empty()) {
    json += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [key, value] : metadata) {
      if (!first) json += ',';
      first = false;
      json += quote(key, where + ": metadata key") + ':' + quote(value, where + ": metadata value for '" + key + "'");
    }
    json += '}';
  }
  for (const TensorInfo& info : layout) {
    if (json.size() > 1) json += ',';
    json += quote(info.name, where + ": tensor name");
    json += ":{\"dtype\":\"";
    json += dtype_name(info.dtype);
    json += "\",\"shape\":[";
    for (std::size_t i = 0; i < info.shape.size(); ++i) {
      if (i > 0) json += ',';
      json += std::to_string(info.shape[i]);
    }
    json += "],\"data_offsets\":[" + std::to_string(info.begin) + ',' + std::to_string(info.end) + "]}";
  }
  json += '}';
  json.append((8 - json.size() % 8) % 8, ' ');  // the data buffer then starts 8-byte aligned
  if (json.size() > kSafetensorsMaxHeaderBytes) {
    throw DataError(error_message(where, "header of " + std::to_string(json.size()) + " bytes is over the limit of " +
                                             std::to_string(kSafetensorsMaxHeaderBytes) + " that readers accept",
                                  "split the tensors over several files"));
  }
  std::string out;
  out.reserve(8 + json.size());
  put_u64_le(out, json.size());
  out += json;
  return out;
}

std::string serialize_safetensors(const std::vector<TensorToWrite>& tensors, const SafetensorsMetadata& metadata) {
  const std::string where = "safetensors buffer";
  const std::vector<TensorInfo> layout = plan_safetensors_layout(tensors, where);
  const auto tensor_by_name = by_name(tensors);
  std::string out = build_safetensors_header(layout, metadata, where);
  for (const TensorInfo& info : layout) {
    const TensorToWrite& t = *tensor_by_name.at(info.name);
    if (t.size > 0) out.append(static_cast<const char*>(t.data), t.size);
  }
  return out;
}

void write_safetensors(const fs::path& path, const std::vector<TensorToWrite>& tensors,
                       const SafetensorsMetadata& metadata) {
  const std::string where = path.string();
  const std::vector<TensorInfo> layout = plan_safetensors_layout(tensors, where);
  const auto tensor_by_name = by_name(tensors);
  const std::string header = build_safetensors_header(layout, metadata, where);
  AtomicFile file(path);
  std::ofstream& out = file.stream();
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  for (const TensorInfo& info : layout) {
    const TensorToWrite& t = *tensor_by_name.at(info.name);
    if (t.size > 0) out.write(static_cast<const char*>(t.data), static_cast<std::streamsize>(t.size));
    if (!out) throw IoError(error_message(where, "write failed (disk full?)"));
  }
  file.commit();
}

SafetensorsStreamWriter::SafetensorsStreamWriter(fs::path path, const std::vector<TensorSpec>& tensors,
                                                 const SafetensorsMetadata& metadata)
    : file_(std::move(path)) {
  const std::string where = file_.path().string();
  layout_ = plan_safetensors_layout(tensors, where);
  const std::string header = build_safetensors_header(layout_, metadata, where);
  written_.assign(layout_.size(), 0);
  for (std::size_t i = 0; i < layout_.size(); ++i) index_.emplace(layout_[i].name, i);
  file_.stream().write(header.data(), static_cast<std::streamsize>(header.size()));
  if (!file_.stream()) throw IoError(error_message(where, "write failed (disk full?)"));
  data_offset_ = header.size();
  position_ = data_offset_;
}

std::size_t SafetensorsStreamWriter::index_of(std::string_view name) const {
  const auto it = index_.find(name);
  if (it == index_.end()) {
    throw DataError(error_message(file_.path().string(), "no tensor named '" + std::string(name) + "' was declared"));
  }
  return it->second;
}

void SafetensorsStreamWriter::append(std::string_view name, const void* bytes, std::size_t size) {
  const std::string where = file_.path().string();
  if (finished_) throw DataError(error_message(where, "append after finish()"));
  const std::size_t i = index_of(name);
  const TensorInfo& info = layout_[i];
  if (size > info.byte_size() - written_[i]) {
    throw DataError(error_message(tensor_where(where, info.name),
                                  std::to_string(written_[i] + size) + " bytes appended, but shape " +
                                      format_shape(info.shape) + " of " + std::string(dtype_name(info.dtype)) +
                                      " holds " + std::to_string(info.byte_size())));
  }
  if (size == 0) return;
  std::ofstream& out = file_.stream();
  const std::uint64_t target = data_offset_ + info.begin + written_[i];
  if (target != position_) out.seekp(static_cast<std::streamoff>(target));
  out.write(static_cast<const char*>(bytes), static_cast<std::streamsize>(size));
  if (!out) throw IoError(error_message(where, "write failed (disk full?)"));
  written_[i] += size;
  position_ = target + size;
}

std::uint64_t SafetensorsStreamWriter::remaining(std::string_view name) const {
  const std::size_t i = index_of(name);
  return layout_[i].byte_size() - written_[i];
}

void SafetensorsStreamWriter::finish() {
  const std::string where = file_.path().string();
  if (finished_) throw DataError(error_message(where, "finish() called twice"));
  for (std::size_t i = 0; i < layout_.size(); ++i) {
    if (written_[i] != layout_[i].byte_size()) {
      throw DataError(error_message(tensor_where(where, layout_[i].name),
                                    "only " + std::to_string(written_[i]) + " of " +
                                        std::to_string(layout_[i].byte_size()) + " bytes were written",
                                    "the file was not written"));
    }
  }
  finished_ = true;
  file_.commit();
}

}  // namespace privprobe
