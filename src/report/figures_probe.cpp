// The probing figures: accuracy by layer (the paper's figure) and the differences between models.
#include <algorithm>
#include <cmath>
#include <set>

#include "report/figures.h"

namespace privprobe {

namespace {

// Colours that stay apart in print and for the common colour-vision deficiencies.
const std::map<std::string, std::string>& arm_colors() {
  static const std::map<std::string, std::string> colors = {
      {"base", "#000000"},    {"r0", "#1f77b4"},   {"r0.5", "#d62728"}, {"r1", "#2ca02c"},
      {"control", "#9467bd"}, {"augment", "#ff7f0e"}, {"wmbatch", "#8c564b"}, {"lora", "#17becf"}};
  return colors;
}
constexpr const char* kSpareColors[] = {"#e377c2", "#7f7f7f", "#bcbd22", "#393b79", "#637939", "#8c6d31"};
constexpr int kPointTypes[] = {7, 5, 9, 11, 13, 15};

// The y range that shows every value with a margin, always including chance (0.5).
std::string accuracy_range(const std::vector<double>& values) {
  double low = 0.5, high = 0.5;
  for (const double v : values) {
    low = std::min(low, v);
    high = std::max(high, v);
  }
  low = std::max(0.0, std::floor((low - 0.02) * 20) / 20);
  high = std::min(1.0, std::ceil((high + 0.02) * 20) / 20);
  return "set yrange [" + gnuplot_number(low) + ":" + gnuplot_number(high) + "]\n";
}

std::string layer_axis(int min_layer, int max_layer) {
  std::string s = "set xlabel 'layer (hidden-state entry, 0 = embeddings)'\n";
  s += "set xrange [" + gnuplot_number(min_layer - 0.3) + ":" + gnuplot_number(max_layer + 0.3) + "]\n";
  s += max_layer - min_layer <= 40 ? "set xtics 1\n" : "set xtics autofreq\n";
  return s + "set key outside right top Left reverse samplen 2\nset grid ytics\n";
}

std::string join_plot(const std::vector<std::string>& items) {
  std::string s = "plot ";
  for (std::size_t i = 0; i < items.size(); ++i) s += (i ? ", \\\n     " : "") + items[i];
  return s + "\n";
}

}  // namespace

SeriesStyle model_style(const StudyResults& results, const std::string& model_id) {
  SeriesStyle style;
  std::vector<std::string> spare_arms;
  std::map<std::string, int> seen_in_arm;
  for (const ModelResult& m : results.models) {
    const auto known = arm_colors().find(m.arm);
    if (known == arm_colors().end() && std::find(spare_arms.begin(), spare_arms.end(), m.arm) == spare_arms.end()) {
      spare_arms.push_back(m.arm);
    }
    const int index_in_arm = seen_in_arm[m.arm]++;
    if (m.id != model_id) continue;
    if (known != arm_colors().end()) {
      style.color = known->second;
    } else {
      const auto spare = static_cast<std::size_t>(std::find(spare_arms.begin(), spare_arms.end(), m.arm) - spare_arms.begin());
      style.color = kSpareColors[spare % std::size(kSpareColors)];
    }
    style.index_in_arm = index_in_arm;
    style.point_type = kPointTypes[static_cast<std::size_t>(index_in_arm) % std::size(kPointTypes)];
    return style;
  }
  style.color = "#7f7f7f";
  return style;
}

FigureOutcome probe_accuracy_figure(GnuplotSession& session, const StudyResults& results, const std::string& group_by) {
  const bool image = group_by == "image";
  FigureOutcome outcome;
  outcome.title = image ? "Probe accuracy by layer, image-grouped folds (confounded by identity)"
                        : "Probe accuracy by layer, profile-grouped folds";
  std::vector<std::string> items;
  std::vector<double> values;
  int min_layer = 1 << 30, max_layer = -1;
  bool any_control = false, any_prompt = false;
  for (std::size_t i = 0; i < results.models.size(); ++i) {
    const ModelResult& m = results.models[i];
    const auto& probe = image ? m.probe_image : m.probe_profile;
    if (!probe || probe->layers.empty()) continue;
    std::string rows;
    bool has_control = false;
    for (const LayerScore& l : probe->layers) {
      rows += std::to_string(l.layer) + " " + gnuplot_number(l.accuracy) + " " + gnuplot_number(l.ci_low) + " " +
              gnuplot_number(l.ci_high) + " " + gnuplot_number(l.control) + "\n";
      for (const OptionalNumber& v : {OptionalNumber(l.accuracy), l.ci_low, l.ci_high, l.control}) {
        if (v) values.push_back(*v);
      }
      has_control = has_control || l.control.has_value();
      min_layer = std::min(min_layer, l.layer);
      max_layer = std::max(max_layer, l.layer);
    }
    const std::string file = session.data_file("probe_" + group_by + "_" + std::to_string(i), rows);
    const SeriesStyle style = model_style(results, m.id);
    const std::string color = "lc rgb '" + style.color + "'";
    items.push_back(file + " using 1:3:4 with filledcurves fc rgb '" + style.color +
                    "' fs transparent solid 0.12 noborder notitle");
    items.push_back(file + " using 1:2 with linespoints " + color + " lw 1.5 pt " + std::to_string(style.point_type) +
                    " ps 0.8 title " + gnuplot_quote(m.id));
    if (has_control) {
      items.push_back(file + " using 1:5 with lines " + color + " dt 3 lw 1 notitle");
      any_control = true;
    }
    if (m.ask && m.ask->calibrated_accuracy) {
      items.push_back(gnuplot_number(*m.ask->calibrated_accuracy) + " with lines " + color + " dt 4 lw 1 notitle");
      values.push_back(*m.ask->calibrated_accuracy);
      any_prompt = true;
    }
  }
  if (items.empty()) {
    outcome.absent = std::string("No model has ") + (image ? "image" : "profile") + "-grouped probe results in results.json.";
    return outcome;
  }
  // Key entries for the line styles shared by all models.
  if (any_control) items.push_back("NaN with lines lc rgb '#555555' dt 3 title 'permuted-label control'");
  if (any_prompt) items.push_back("NaN with lines lc rgb '#555555' dt 4 title 'prompt baseline (ask)'");

  GnuplotFigure figure;
  figure.name = "probe_" + group_by;
  figure.width = 960;
  figure.body = "set title " + gnuplot_quote(outcome.title) + "\nset ylabel 'accuracy, seen vs unseen'\n" +
                layer_axis(min_layer, max_layer) + accuracy_range(values) + join_plot(items);
  outcome.figure = session.render(figure);
  outcome.caption = std::string("Linear-probe accuracy per layer (solid, with the 95 % interval as a band) for every "
                                "model; dotted: the same probe on permuted labels (the control); dash-dotted: the "
                                "prompt baseline, ask's calibrated membership accuracy. ") +
                    (image ? "Folds grouped by base image: a profile can be on both sides of a split, so the probe "
                             "can recognise the identity instead of its membership; this figure is confounded by "
                             "identity and only shown beside the profile-grouped one."
                           : "Folds grouped by profile: no profile is in both the training and the test side, the "
                             "lead statistic.");
  if (!any_prompt) outcome.caption += " No prompt baseline: no model has an ask result.";
  return outcome;
}

FigureOutcome difference_figure(GnuplotSession& session, const StudyResults& results) {
  FigureOutcome outcome;
  outcome.title = "Difference in probe accuracy by layer";
  bool any_profile = false;
  for (const Comparison& c : results.comparisons) any_profile = any_profile || c.group_by == "profile";
  std::vector<std::string> names;  // comparison names in first-appearance order: one colour each
  std::vector<std::string> items;
  int min_layer = 1 << 30, max_layer = -1;
  for (std::size_t i = 0; i < results.comparisons.size(); ++i) {
    const Comparison& c = results.comparisons[i];
    if ((any_profile && c.group_by != "profile") || c.layers.empty()) continue;
    auto name_it = std::find(names.begin(), names.end(), c.name);
    if (name_it == names.end()) name_it = names.insert(names.end(), c.name);
    const std::size_t name_index = static_cast<std::size_t>(name_it - names.begin());
    std::string rows;
    for (const LayerDifference& l : c.layers) {
      rows += std::to_string(l.layer) + " " + gnuplot_number(l.difference) + " " + gnuplot_number(l.ci_low) + " " +
              gnuplot_number(l.ci_high) + "\n";
      min_layer = std::min(min_layer, l.layer);
      max_layer = std::max(max_layer, l.layer);
    }
    const std::string file = session.data_file("difference_" + std::to_string(i), rows);
    // The tuned model's arm colour for "X vs base"; the spare palette keeps other names apart.
    const bool vs_base = c.base == "base" || (results.base_model() && c.base == results.base_model()->id);
    const SeriesStyle tuned = model_style(results, c.tuned);
    const std::string color = vs_base ? tuned.color : kSpareColors[name_index % std::size(kSpareColors)];
    items.push_back(file + " using 1:3:4 with filledcurves fc rgb '" + color + "' fs transparent solid 0.12 noborder notitle");
    items.push_back(file + " using 1:2 with linespoints lc rgb '" + color + "' lw 1.5 pt " +
                    std::to_string(tuned.point_type) + " ps 0.8 title " + gnuplot_quote(c.name + " (" + c.tuned + ")"));
  }
  if (items.empty()) {
    outcome.absent = "results.json holds no comparison between models, so there is no difference to draw.";
    return outcome;
  }
  items.push_back("0 with lines lc rgb '#444444' dt 2 notitle");
  GnuplotFigure figure;
  figure.name = "difference";
  figure.width = 960;
  figure.body = "set title " + gnuplot_quote(outcome.title + (any_profile ? " (profile-grouped folds)" : "")) +
                "\nset ylabel 'accuracy difference'\n" + layer_axis(min_layer, max_layer) + join_plot(items);
  outcome.figure = session.render(figure);
  outcome.caption = "Probe accuracy of the first model named minus the second, per layer, with the 95 % interval of "
                    "the difference as a band (results.json comparisons). A band entirely above zero at a layer "
                    "means the first model encodes the seen/unseen distinction better there.";
  return outcome;
}

}  // namespace privprobe
