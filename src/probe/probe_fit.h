// Fitting every probe of a run: for each selected layer, each label track (the real labels, the
// permuted-label control) and each split, one logistic regression; what comes back is the
// out-of-fold decision value of every test sample.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "probe/activations.h"
#include "probe/folds.h"

namespace privprobe {

struct ProbeFitInput {
  std::vector<int> layers;
  const FoldPlan* folds = nullptr;
  // tracks[t][r]: the labels (0/1, one per sample) that track t trains on in repeat r.
  std::vector<std::vector<std::vector<int>>> tracks;
  bool standardize = true;  // per training fold; false: raw features (the paper's protocol)
  double C = 1.0;
  double tolerance = 1e-7;
  int max_iterations = 500;
  std::uint64_t seed = 0;
  std::function<void(std::size_t layers_done)> on_progress;  // optional
};

struct ProbeFitOutput {
  std::int64_t tracks = 0, repeats = 0, samples = 0;
  // Decision values, NaN where a sample is not tested in that repeat:
  // scores[((layer_index * tracks + t) * repeats + r) * samples + i].
  std::vector<double> scores;
  std::vector<int> max_iterations;     // per layer: the most iterations any of its fits took
  std::vector<int> unconverged_fits;   // per layer: fits that stopped before the tolerance

  double score(std::size_t layer_index, std::int64_t track, std::int64_t repeat, std::int64_t sample) const {
    return scores[static_cast<std::size_t>(
        ((static_cast<std::int64_t>(layer_index) * tracks + track) * repeats + repeat) * samples + sample)];
  }
};

// Throws DataError naming the source, layer and sample when a probed layer holds a NaN or an
// infinity (found while the layer is copied, so earlier layers may have been fitted already).
ProbeFitOutput fit_probes(const ActivationSet& set, const ProbeFitInput& input);

}  // namespace privprobe
