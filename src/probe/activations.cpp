#include "probe/activations.h"

#include <cstring>
#include <limits>

#include "io/mapped_file.h"
#include "io/safetensors.h"
#include "util/error.h"

namespace privprobe {
namespace {

bool is_integer_dtype(Dtype dtype) {
  switch (dtype) {
    case Dtype::I64: case Dtype::I32: case Dtype::I16: case Dtype::I8:
    case Dtype::U64: case Dtype::U32: case Dtype::U16: case Dtype::U8: case Dtype::BOOL:
      return true;
    default:
      return false;
  }
}

template <typename T>
T load_element(const std::uint8_t* bytes, std::size_t index) {
  T value;
  std::memcpy(&value, bytes + index * sizeof(T), sizeof(T));  // files from other writers may be unaligned
  return value;
}

// The values of a rank-1 integer tensor of length n, as int64.
std::vector<std::int64_t> read_integer_vector(const SafetensorsFile& file, const std::string& name,
                                              std::int64_t n) {
  const std::string where = file.path().string();
  const TensorInfo& info = file.at(name);
  if (!is_integer_dtype(info.dtype)) {
    throw DataError(error_message(where, "tensor '" + name + "' has dtype " + std::string(dtype_name(info.dtype)),
                                  "expected an integer dtype"));
  }
  if (info.shape.size() != 1 || info.shape[0] != n) {
    throw DataError(error_message(where, "tensor '" + name + "' has shape " + format_shape(info.shape) +
                                             " but states has " + std::to_string(n) + " samples",
                                  "expected [" + std::to_string(n) + "]"));
  }
  const std::uint8_t* bytes = file.data(info).data;
  std::vector<std::int64_t> values(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < values.size(); ++i) {
    switch (info.dtype) {
      case Dtype::I64: values[i] = load_element<std::int64_t>(bytes, i); break;
      case Dtype::I32: values[i] = load_element<std::int32_t>(bytes, i); break;
      case Dtype::I16: values[i] = load_element<std::int16_t>(bytes, i); break;
      case Dtype::I8: values[i] = load_element<std::int8_t>(bytes, i); break;
      case Dtype::U32: values[i] = load_element<std::uint32_t>(bytes, i); break;
      case Dtype::U16: values[i] = load_element<std::uint16_t>(bytes, i); break;
      case Dtype::U8: case Dtype::BOOL: values[i] = bytes[i]; break;
      case Dtype::U64: {
        const auto v = load_element<std::uint64_t>(bytes, i);
        if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
          throw DataError(error_message(where, "tensor '" + name + "', sample " + std::to_string(i) +
                                                   ": value too large for a 64-bit signed integer"));
        }
        values[i] = static_cast<std::int64_t>(v);
        break;
      }
      default: break;
    }
  }
  return values;
}

bool is_state_dtype(Dtype dtype) {
  return dtype == Dtype::F32 || dtype == Dtype::F16 || dtype == Dtype::BF16 || dtype == Dtype::F64;
}

}  // namespace

ActivationSet make_activation_set(std::vector<float> states, std::int64_t samples, std::int64_t layers,
                                  std::int64_t dim, std::vector<int> labels, std::vector<std::int64_t> groups,
                                  std::vector<std::int64_t> profiles, std::string source) {
  if (samples < 0 || layers < 0 || dim < 0 ||
      static_cast<std::uint64_t>(states.size()) !=
          static_cast<std::uint64_t>(samples) * static_cast<std::uint64_t>(layers) * static_cast<std::uint64_t>(dim)) {
    throw DataError(error_message(source, "states hold " + std::to_string(states.size()) + " values, not " +
                                              std::to_string(samples) + " x " + std::to_string(layers) + " x " +
                                              std::to_string(dim)));
  }
  auto owned = std::make_shared<std::vector<float>>(std::move(states));
  ActivationSet set;
  set.source = std::move(source);
  set.samples = samples;
  set.layers = layers;
  set.dim = dim;
  set.dtype = Dtype::F32;
  set.states = owned->data();
  set.keep_alive = owned;
  set.labels = std::move(labels);
  set.groups = std::move(groups);
  set.profiles = std::move(profiles);
  check_activation_set(set);
  return set;
}

ActivationSet load_activations(const std::filesystem::path& path) {
  const SafetensorsFile file(path);
  const std::string where = path.string();
  const TensorInfo* states = file.find("states");
  if (!states) {
    throw DataError(error_message(where, "no tensor 'states'", "an activation file holds states [N, L, D] and labels [N]"));
  }
  if (!file.find("labels")) {
    throw DataError(error_message(where, "no tensor 'labels'", "an activation file holds states [N, L, D] and labels [N]"));
  }
  if (!is_state_dtype(states->dtype)) {
    throw DataError(error_message(where, "tensor 'states' has dtype " + std::string(dtype_name(states->dtype)),
                                  "expected F32, F16, BF16 or F64"));
  }
  if (states->shape.size() != 3) {
    throw DataError(error_message(where, "tensor 'states' has shape " + format_shape(states->shape),
                                  "expected [N, L, D]"));
  }
  ActivationSet set;
  set.source = where;
  set.samples = states->shape[0];
  set.layers = states->shape[1];
  set.dim = states->shape[2];
  set.dtype = states->dtype;
  if (set.samples == 0 || set.layers == 0 || set.dim == 0) {
    throw DataError(error_message(where, "tensor 'states' is empty: shape " + format_shape(states->shape)));
  }
  const ByteView bytes = file.data(*states);
  if (is_aligned(bytes, states->dtype)) {
    set.states = bytes.data;
    set.keep_alive = file.mapping();
    set.states_file = path;
    set.states_offset = static_cast<std::uint64_t>(bytes.data - file.mapping()->data());
  } else {  // another writer's unaligned layout: one aligned copy
    auto copy = std::make_shared<std::vector<std::uint64_t>>((bytes.size + 7) / 8);
    std::memcpy(copy->data(), bytes.data, bytes.size);
    set.states = copy->data();
    set.keep_alive = copy;
  }

  const std::vector<std::int64_t> labels = read_integer_vector(file, "labels", set.samples);
  set.labels.resize(labels.size());
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] != 0 && labels[i] != 1) {
      throw DataError(error_message(where, "labels[" + std::to_string(i) + "] is " + std::to_string(labels[i]),
                                    "labels must be 0 (unseen) or 1 (seen)"));
    }
    set.labels[i] = static_cast<int>(labels[i]);
  }
  if (file.find("groups")) set.groups = read_integer_vector(file, "groups", set.samples);
  if (file.find("profiles")) set.profiles = read_integer_vector(file, "profiles", set.samples);
  check_activation_set(set);
  return set;
}

void check_activation_set(const ActivationSet& set) {
  const std::string n = std::to_string(set.samples);
  if (set.samples <= 0 || set.layers <= 0 || set.dim <= 0 || !set.states) {
    throw DataError(error_message(set.source, "states are empty"));
  }
  if (!is_state_dtype(set.dtype)) {
    throw DataError(error_message(set.source, "states have dtype " + std::string(dtype_name(set.dtype)),
                                  "expected F32, F16, BF16 or F64"));
  }
  if (static_cast<std::int64_t>(set.labels.size()) != set.samples) {
    throw DataError(error_message(set.source, "labels have " + std::to_string(set.labels.size()) +
                                                  " entries but states have " + n + " samples"));
  }
  for (std::size_t i = 0; i < set.labels.size(); ++i) {
    if (set.labels[i] != 0 && set.labels[i] != 1) {
      throw DataError(error_message(set.source, "labels[" + std::to_string(i) + "] is " + std::to_string(set.labels[i]),
                                    "labels must be 0 (unseen) or 1 (seen)"));
    }
  }
  if (!set.groups.empty() && static_cast<std::int64_t>(set.groups.size()) != set.samples) {
    throw DataError(error_message(set.source, "groups have " + std::to_string(set.groups.size()) +
                                                  " entries but states have " + n + " samples"));
  }
  if (!set.profiles.empty() && static_cast<std::int64_t>(set.profiles.size()) != set.samples) {
    throw DataError(error_message(set.source, "profiles have " + std::to_string(set.profiles.size()) +
                                                  " entries but states have " + n + " samples"));
  }
}

namespace {

// Index of the first element that is a NaN or an infinity (all exponent bits set), or -1.
// A branch-free pass over the bit patterns first (it vectorises; may_alias makes reading float
// storage as integers well-defined), the search only when something is there.
template <typename Bits>
std::int64_t first_non_finite(const std::uint8_t* bytes, std::int64_t count, Bits exponent_mask) {
  typedef Bits __attribute__((may_alias)) AliasedBits;
  const auto* values = reinterpret_cast<const AliasedBits*>(bytes);  // rows are aligned for their dtype
  Bits any = 0;
  for (std::int64_t i = 0; i < count; ++i) any |= static_cast<Bits>((values[i] & exponent_mask) == exponent_mask);
  if (!any) return -1;
  for (std::int64_t i = 0; i < count; ++i) {
    if ((values[i] & exponent_mask) == exponent_mask) return i;
  }
  return -1;
}

}  // namespace

void check_finite_states(const ActivationSet& set, const std::vector<int>& layers) {
  const std::size_t element = dtype_size(set.dtype);
  const auto* base = static_cast<const std::uint8_t*>(set.states);
  for (int layer : layers) {
    for (std::int64_t sample = 0; sample < set.samples; ++sample) {
      const std::uint8_t* row = base + (static_cast<std::size_t>(sample * set.layers + layer) *
                                        static_cast<std::size_t>(set.dim)) * element;
      std::int64_t bad = -1;
      switch (set.dtype) {
        case Dtype::F32:
          bad = first_non_finite(row, set.dim, std::uint32_t{0x7f800000u});
          break;
        case Dtype::F64:
          bad = first_non_finite(row, set.dim,
                                 std::uint64_t{0x7ff0000000000000ULL});
          break;
        case Dtype::F16:
          bad = first_non_finite(row, set.dim, std::uint16_t{0x7c00u});
          break;
        case Dtype::BF16:
          bad = first_non_finite(row, set.dim, std::uint16_t{0x7f80u});
          break;
        default: break;
      }
      if (bad >= 0) {
        throw DataError(error_message(set.source, "states hold a NaN or infinity at layer " + std::to_string(layer) +
                                                      ", sample " + std::to_string(sample) + ", feature " +
                                                      std::to_string(bad),
                                      "the model produced non-finite hidden states; re-extract in float32"));
      }
    }
  }
}

}  // namespace privprobe
