// Synthetic activation sets for the probe tests, with known answers.
#pragma once

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "probe/activations.h"

namespace privprobe::test {

struct PlantedSpec {
  std::int64_t pairs = 100;        // base images; each gives a seen (1) and an unseen (0) sample
  std::int64_t layers = 6;
  std::int64_t dim = 20;
  std::set<int> signal_layers = {2, 3};
  double signal = 4.5;             // distance between the class means along the signal direction
  double image_effect = 1.0;       // per-image offset shared by a pair (what grouping protects)
  std::int64_t profiles_per_class = 20;
  std::uint64_t seed = 1;
};

// Paired design as `probeset` makes it: sample 2g is image g with a seen profile (label 1), 2g+1
// the same image with an unseen profile (label 0); groups = g; profiles cycle through
// profiles_per_class ids per class (seen ids 0.., unseen ids 1000..). States: N(0, 1) noise +
// image offset + (in signal layers) +-signal/2 along a fixed random unit direction.
ActivationSet make_planted_set(const PlantedSpec& spec);

// The states of a set as floats [N, L, D] (for writing it to a file).
std::vector<float> states_of(const ActivationSet& set);

// Writes a set as an activation file (states F32, labels I64, groups/profiles I64 when present).
void write_activation_file(const std::filesystem::path& path, const ActivationSet& set);

}  // namespace privprobe::test
