// The statistics of `ask` that need no model: output-level membership inference (a threshold on
// a per-sample score, chosen on each training fold and tested on its test fold) and exposure
// (Carlini et al., "The Secret Sharer": how high the true secret ranks among the candidates).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "probe/folds.h"

namespace privprobe {

// Threshold t maximising the accuracy of "score >= t means seen (1)" on the `train` samples.
// Candidates: below every score, and midway between consecutive distinct scores; ties keep the
// smallest t. Throws DataError naming `where` for a NaN score.
double choose_threshold(const std::vector<double>& scores, const std::vector<int>& labels,
                        const std::vector<std::int64_t>& train, const std::string& where);

struct MembershipFold {
  std::size_t repeat = 0;
  std::size_t fold = 0;
  double threshold = 0;
  double accuracy = 0;  // on the test fold
  double auc = 0;       // on the test fold (NaN when it holds one class only)
};

struct MembershipResult {
  double accuracy = 0;  // mean over folds
  double auc = 0;       // mean over folds with both classes
  std::vector<MembershipFold> folds;
};

// Every fold of the plan: threshold on its training samples, accuracy and AUC on its test samples.
MembershipResult evaluate_membership(const std::vector<double>& scores, const std::vector<int>& labels,
                                     const FoldPlan& plan, const std::string& where);

// Rank of candidate `truth` by score, 1 = highest; candidates tied with it share the mean of the
// ranks they occupy (so ties neither help nor hurt on average).
double candidate_rank(const std::vector<double>& scores, std::size_t truth);

// True when `answer` contains `username`, ignoring ASCII case (generation check of `ask`).
bool answer_contains(const std::string& answer, const std::string& username);

// log2(candidates) - log2(rank): 0 for the last place, log2(candidates) for the first.
double exposure(double rank, std::size_t candidates);

}  // namespace privprobe
