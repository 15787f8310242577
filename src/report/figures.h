// The report's figures, each drawn with gnuplot from the study's results and files. A figure
// whose inputs are missing is not drawn; the outcome then says why in one sentence, which the
// report prints in its place.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "report/gnuplot.h"
#include "report/study_files.h"
#include "report/study_results.h"

namespace privprobe {

// What the report loaded from the study folder besides results.json.
struct StudyData {
  std::filesystem::path folder;
  StudyResults results;
  std::map<std::string, LossCurve> losses;                 // by model id, models with a train log
  std::map<std::string, std::vector<DynamicsRow>> dynamics;  // by model id, models with a dynamics log
};

struct FigureOutcome {
  std::optional<RenderedFigure> figure;
  std::string title;    // heading of the figure
  std::string caption;  // what it shows (set when drawn)
  std::string absent;   // why it was not drawn (set when not)
};

// Colours by arm, point types by seed: every figure draws one model the same way.
struct SeriesStyle {
  std::string color;  // "#rrggbb"
  int point_type = 7;
  int index_in_arm = 0;  // 0 for the arm's first model (seed), 1 for the next, ...
};
SeriesStyle model_style(const StudyResults& results, const std::string& model_id);

// Probe accuracy by layer per model with interval bands, permuted-label controls and the prompt
// baseline (ask's calibrated membership accuracy) as a horizontal line per model.
// group_by: "profile" (the lead statistic) or "image" (confounded by identity).
FigureOutcome probe_accuracy_figure(GnuplotSession& session, const StudyResults& results, const std::string& group_by);

// Fine-tuned minus base (and the other comparisons) by layer, with intervals.
FigureOutcome difference_figure(GnuplotSession& session, const StudyResults& results);

// Training loss over steps: the base's pretraining (pretrain = true) or the fine-tunes.
FigureOutcome loss_figure(GnuplotSession& session, const StudyData& data, bool pretrain);

// Whole-model gradient cosine over steps per fine-tuned model: "cos_batch_clean" or "cos_wm_clean".
FigureOutcome cosine_figure(GnuplotSession& session, const StudyData& data, const std::string& measure);

// One model's best-layer states for the PCA, read before anything is drawn so a bad activation
// file fails the report early. `absent` says why there are none.
struct PcaInput {
  std::string model_id;
  int layer = 0;
  std::optional<LayerStates> states;
  std::string absent;
};
PcaInput load_pca_input(const StudyData& data, const std::string& model_id);

// States (N x D, CV_32F, N >= 3) projected on their first two principal components (cv::PCA),
// each component's sign fixed so that its eigenvector's largest entry is positive.
struct PcaProjection {
  cv::Mat points;                      // N x 2, CV_32F
  double variance_share[2] = {0, 0};   // of the total variance, in [0, 1]
};
PcaProjection project_pca2(const cv::Mat& states);

// 2-D PCA of the states, seen vs unseen.
FigureOutcome pca_figure(GnuplotSession& session, const PcaInput& input);

// The layer the PCA uses: profile-grouped best layer, else image-grouped, else nothing.
std::optional<int> best_layer_of(const ModelResult& model);

}  // namespace privprobe
