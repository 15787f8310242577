// Labels for the permuted-label control (selectivity = accuracy - control accuracy).
//
// What makes the control fair: the permuted labels must keep everything a probe could exploit
// without reading the content (class balance, the group structure the folds respect, which samples
// share an image or an identity) and break only the link between a sample's state and its label.
//   - Groups whose samples all share one label (one group per sample; whole profiles; unpaired
//     images) exchange their labels: the group labels are permuted among such groups, so the
//     number of seen groups stays the same and a group's samples still agree with each other.
//   - Groups holding both labels (the paired design: one base image watermarked once with a seen
//     and once with an unseen profile) keep their labels but shuffle them among their members, so
//     each pair still holds one seen and one unseen sample and only which one is which is random.
// The folds are those of the real labels, so the control answers: how well does the same probe,
// on the same splits, do when the labels carry no information about the states?
#pragma once

#include <cstdint>
#include <vector>

namespace privprobe {

std::vector<int> permuted_control_labels(const std::vector<int>& labels, const std::vector<std::int64_t>& groups,
                                         std::uint64_t seed);

}  // namespace privprobe
