// 2-D PCA of one layer's hidden states, coloured seen / unseen.
#include <algorithm>
#include <cmath>

#include <opencv2/core.hpp>

#include "report/figures.h"

namespace privprobe {

std::optional<int> best_layer_of(const ModelResult& model) {
  if (model.probe_profile && model.probe_profile->best_layer) return model.probe_profile->best_layer;
  if (model.probe_image && model.probe_image->best_layer) return model.probe_image->best_layer;
  return std::nullopt;
}

PcaInput load_pca_input(const StudyData& data, const std::string& model_id) {
  PcaInput input;
  input.model_id = model_id;
  const ModelResult* model = data.results.find_model(model_id);
  const std::optional<int> layer = model ? best_layer_of(*model) : std::nullopt;
  if (!layer) {
    input.absent = "No PCA for " + model_id + ": results.json names no best layer for it.";
    return input;
  }
  input.layer = *layer;
  const std::filesystem::path path = activation_path(data.folder, model_id);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    input.absent = "No PCA for " + model_id + ": acts/" + model_id + ".safetensors is not in the study folder.";
    return input;
  }
  input.states = load_layer_states(path, *layer);
  if (input.states->states.rows < 3 || input.states->states.cols < 2) {
    input.states.reset();
    input.absent = "No PCA for " + model_id + ": it needs at least 3 samples of 2 dimensions.";
  }
  return input;
}

PcaProjection project_pca2(const cv::Mat& states) {
  const cv::PCA pca(states, cv::noArray(), cv::PCA::DATA_AS_ROW, 2);
  PcaProjection out;
  out.points = pca.project(states);  // N x 2
  // An eigenvector's sign is arbitrary: fix it (largest component positive) so reruns and
  // platforms agree.
  for (int k = 0; k < out.points.cols; ++k) {
    double min_value, max_value;
    cv::minMaxLoc(pca.eigenvectors.row(k), &min_value, &max_value);
    if (-min_value > max_value) out.points.col(k) *= -1;
  }
  if (out.points.cols < 2) {  // fewer dimensions than components: pad with zeros
    cv::Mat padded = cv::Mat::zeros(out.points.rows, 2, CV_32F);
    out.points.copyTo(padded.colRange(0, out.points.cols));
    out.points = padded;
  }
  // Total variance with OpenCV's normalisation (the covariance is divided by N).
  cv::Mat centred;
  cv::subtract(states, cv::repeat(pca.mean, states.rows, 1), centred);
  const double total = cv::norm(centred, cv::NORM_L2SQR) / states.rows;
  for (int k = 0; k < std::min(2, pca.eigenvalues.rows); ++k) {
    out.variance_share[k] = total > 0 ? std::clamp(static_cast<double>(pca.eigenvalues.at<float>(k)) / total, 0.0, 1.0) : 0.0;
  }
  return out;
}

FigureOutcome pca_figure(GnuplotSession& session, const PcaInput& input) {
  const std::string& model_id = input.model_id;
  FigureOutcome outcome;
  outcome.title = "PCA of the best layer's states: " + model_id;
  if (!input.states) {
    outcome.absent = input.absent;
    return outcome;
  }
  const LayerStates& states = *input.states;
  const int layer = input.layer;
  const PcaProjection pca = project_pca2(states.states);
  const cv::Mat& projected = pca.points;
  auto share = [&](int k) { return pca.variance_share[k] * 100; };

  std::string seen, unseen;
  for (int i = 0; i < projected.rows; ++i) {
    const std::string row = gnuplot_number(projected.at<float>(i, 0)) + " " + gnuplot_number(projected.at<float>(i, 1)) + "\n";
    (states.labels[static_cast<std::size_t>(i)] == 1 ? seen : unseen) += row;
  }
  std::vector<std::string> items;
  if (!seen.empty()) {
    items.push_back(session.data_file("pca_" + model_id + "_seen", seen) +
                    " using 1:2 with points pt 7 ps 0.9 lc rgb '#d62728' title 'seen (U1)'");
  }
  if (!unseen.empty()) {
    items.push_back(session.data_file("pca_" + model_id + "_unseen", unseen) +
                    " using 1:2 with points pt 9 ps 0.9 lc rgb '#1f77b4' title 'unseen (U2)'");
  }
  char axes[128];
  std::snprintf(axes, sizeof axes, "set xlabel 'PC1 (%.1f %% of variance)'\nset ylabel 'PC2 (%.1f %% of variance)'\n",
                share(0), share(1));
  GnuplotFigure figure;
  figure.name = "pca_" + model_id;
  figure.width = 640;
  figure.height = 520;
  figure.body = "set title " + gnuplot_quote(model_id + ", layer " + std::to_string(layer)) + "\n" + axes +
                "set key below\nset grid\nset offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05\nplot " + items[0] + (items.size() > 1 ? ", \\\n     " + items[1] : "") + "\n";
  outcome.figure = session.render(figure);
  outcome.caption = "The " + std::to_string(states.states.rows) + " probe-set states of " + model_id + " at layer " +
                    std::to_string(layer) + " (its best probe layer) projected on their first two "
                    "principal components (OpenCV PCA). Seen and unseen samples that separate here are linearly "
                    "separable in two directions; overlap does not rule out separation in others.";
  return outcome;
}

}  // namespace privprobe
