#include "probe_fixtures.h"

#include <cmath>
#include <cstring>

#include "io/safetensors_writer.h"
#include "util/rng.h"

namespace privprobe::test {

ActivationSet make_planted_set(const PlantedSpec& spec) {
  const std::int64_t n = 2 * spec.pairs;
  Rng rng(spec.seed);
  std::vector<double> direction(static_cast<std::size_t>(spec.dim));
  double norm = 0;
  for (double& v : direction) {
    v = rng.normal();
    norm += v * v;
  }
  for (double& v : direction) v /= std::sqrt(norm);

  std::vector<float> states(static_cast<std::size_t>(n * spec.layers * spec.dim));
  std::vector<int> labels(static_cast<std::size_t>(n));
  std::vector<std::int64_t> groups(static_cast<std::size_t>(n));
  std::vector<std::int64_t> profiles(static_cast<std::size_t>(n));
  for (std::int64_t g = 0; g < spec.pairs; ++g) {
    std::vector<double> image(static_cast<std::size_t>(spec.layers * spec.dim));
    for (double& v : image) v = spec.image_effect * rng.normal();
    for (int member = 0; member < 2; ++member) {
      const std::int64_t i = 2 * g + member;
      const int label = member == 0 ? 1 : 0;
      labels[static_cast<std::size_t>(i)] = label;
      groups[static_cast<std::size_t>(i)] = g;
      profiles[static_cast<std::size_t>(i)] = (label == 1 ? 0 : 1000) + g % spec.profiles_per_class;
      const double sign = label == 1 ? 0.5 : -0.5;
      for (std::int64_t l = 0; l < spec.layers; ++l) {
        const bool signal = spec.signal_layers.count(static_cast<int>(l)) > 0;
        for (std::int64_t d = 0; d < spec.dim; ++d) {
          double value = rng.normal() + image[static_cast<std::size_t>(l * spec.dim + d)];
          if (signal) value += sign * spec.signal * direction[static_cast<std::size_t>(d)];
          states[static_cast<std::size_t>((i * spec.layers + l) * spec.dim + d)] = static_cast<float>(value);
        }
      }
    }
  }
  return make_activation_set(std::move(states), n, spec.layers, spec.dim, std::move(labels), std::move(groups),
                             std::move(profiles), "planted");
}

std::vector<float> states_of(const ActivationSet& set) {
  std::vector<float> values(static_cast<std::size_t>(set.samples * set.layers * set.dim));
  std::memcpy(values.data(), set.states, values.size() * sizeof(float));
  return values;
}

void write_activation_file(const std::filesystem::path& path, const ActivationSet& set) {
  const std::vector<float> states = states_of(set);
  std::vector<std::int64_t> labels(set.labels.begin(), set.labels.end());
  std::vector<TensorToWrite> tensors = {
      {"states", Dtype::F32, {set.samples, set.layers, set.dim}, states.data(), states.size() * sizeof(float)},
      {"labels", Dtype::I64, {set.samples}, labels.data(), labels.size() * sizeof(std::int64_t)}};
  if (!set.groups.empty()) {
    tensors.push_back({"groups", Dtype::I64, {set.samples}, set.groups.data(), set.groups.size() * sizeof(std::int64_t)});
  }
  if (!set.profiles.empty()) {
    tensors.push_back(
        {"profiles", Dtype::I64, {set.samples}, set.profiles.data(), set.profiles.size() * sizeof(std::int64_t)});
  }
  write_safetensors(path, tensors);
}

}  // namespace privprobe::test
