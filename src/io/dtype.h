// Element types of safetensors files, by the names the format uses ("F32", "BF16", ...).
// This layer deals in bytes only: a dtype is a name and an element size. Which dtypes a model can
// compute with is decided by the libtorch layer that turns byte views into tensors.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace privprobe {

// Every byte-sized dtype of the safetensors format (the sub-byte F4/F6 kinds are not supported).
enum class Dtype {
  F64,
  F32,
  F16,
  BF16,
  F8_E4M3,
  F8_E5M2,
  I64,
  I32,
  I16,
  I8,
  U64,
  U32,
  U16,
  U8,
  BOOL,
};

// All dtypes, for tests and "expected one of" messages.
inline constexpr Dtype kAllDtypes[] = {
    Dtype::F64, Dtype::F32, Dtype::F16, Dtype::BF16, Dtype::F8_E4M3, Dtype::F8_E5M2, Dtype::I64, Dtype::I32,
    Dtype::I16, Dtype::I8,  Dtype::U64, Dtype::U32,  Dtype::U16,     Dtype::U8,      Dtype::BOOL};

// The format's name: "F32", "BF16", "BOOL", ...
std::string_view dtype_name(Dtype dtype);

// The dtype with that exact (case-sensitive) name, or nothing.
std::optional<Dtype> parse_dtype(std::string_view name);

// Bytes per element: 1, 2, 4 or 8. Also the alignment each element needs.
std::size_t dtype_size(Dtype dtype);

// "F64, F32, ..." for error messages.
std::string_view dtype_name_list();

}  // namespace privprobe
