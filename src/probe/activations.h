// Activation files as `probe` reads them: any safetensors file holding
//   states    [N, L, D]  F32, F16, BF16 or F64: one hidden state per sample and layer
//   labels    [N]        any integer dtype, values 0 (unseen) or 1 (seen)
//   groups    [N]        optional, integer: samples that must stay on the same side of a split
//                        (the base image of a probe-set pair)
//   profiles  [N]        optional, integer: the profile drawn on each sample (--group-by profile)
// Every other tensor is ignored, whoever wrote the file. The states stay memory-mapped: loading
// costs address space, and the probe copies one block of layers at a time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "io/dtype.h"

namespace privprobe {

struct ActivationSet {
  std::string source;  // the file (or a label for in-memory sets), named in every error
  std::int64_t samples = 0;
  std::int64_t layers = 0;
  std::int64_t dim = 0;
  Dtype dtype = Dtype::F32;                 // of the states: F32, F16, BF16 or F64
  const void* states = nullptr;             // [samples, layers, dim], row-major, aligned for dtype
  std::shared_ptr<const void> keep_alive;   // owns the bytes states points into
  // Where the states lie in a file, when they are mapped from one: the probe reads its copies of
  // them with pread (first touches of mapped pages are slow on some virtual machines, and they
  // serialise workers on the address space). Empty for in-memory sets and unaligned copies.
  std::filesystem::path states_file;
  std::uint64_t states_offset = 0;
  std::vector<int> labels;                  // 0 or 1
  std::vector<std::int64_t> groups;         // empty when the file has none
  std::vector<std::int64_t> profiles;       // empty when the file has none
};

// An in-memory set (tests, tools): states holds samples x layers x dim floats.
ActivationSet make_activation_set(std::vector<float> states, std::int64_t samples, std::int64_t layers,
                                  std::int64_t dim, std::vector<int> labels, std::vector<std::int64_t> groups = {},
                                  std::vector<std::int64_t> profiles = {}, std::string source = "activations");

// Maps and checks an activation file. Throws IoError (cannot open), FormatError (not a safetensors
// file) or DataError (a missing tensor, a wrong dtype or shape, labels other than 0/1), each
// naming the file.
ActivationSet load_activations(const std::filesystem::path& path);

// The checks load_activations makes, for sets from elsewhere. Throws DataError naming set.source.
void check_activation_set(const ActivationSet& set);

// Throws DataError naming the source, the layer and the first sample whose state in one of
// `layers` holds a NaN or an infinity.
void check_finite_states(const ActivationSet& set, const std::vector<int>& layers);

}  // namespace privprobe
