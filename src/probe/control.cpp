#include "probe/control.h"

#include <map>

#include "util/rng.h"

namespace privprobe {

std::vector<int> permuted_control_labels(const std::vector<int>& labels, const std::vector<std::int64_t>& groups,
                                         std::uint64_t seed) {
  std::map<std::int64_t, std::vector<std::size_t>> members;  // ordered: independent of sample order quirks
  for (std::size_t i = 0; i < labels.size(); ++i) members[groups[i]].push_back(i);

  Rng rng(seed);
  std::vector<int> permuted = labels;
  std::vector<const std::vector<std::size_t>*> pure_groups;
  std::vector<int> pure_labels;
  for (const auto& [group, indices] : members) {
    bool pure = true;
    for (std::size_t i : indices) pure = pure && labels[i] == labels[indices.front()];
    if (pure) {
      pure_groups.push_back(&indices);
      pure_labels.push_back(labels[indices.front()]);
      continue;
    }
    std::vector<int> mixed;
    for (std::size_t i : indices) mixed.push_back(labels[i]);
    rng.shuffle(mixed);
    for (std::size_t j = 0; j < indices.size(); ++j) permuted[indices[j]] = mixed[j];
  }
  rng.shuffle(pure_labels);
  for (std::size_t g = 0; g < pure_groups.size(); ++g) {
    for (std::size_t i : *pure_groups[g]) permuted[i] = pure_labels[g];
  }
  return permuted;
}

}  // namespace privprobe
