// The training figures: loss curves and the gradient cosines of the dynamics log.
#include <algorithm>
#include <cmath>

#include "report/figures.h"

namespace privprobe {

namespace {

// Long runs are averaged over buckets of consecutive steps so a figure stays small.
constexpr std::size_t kMaxPoints = 2000;

std::string join_plot(const std::vector<std::string>& items) {
  std::string s = "plot ";
  for (std::size_t i = 0; i < items.size(); ++i) s += (i ? ", \\\n     " : "") + items[i];
  return s + "\n";
}

// "step loss" rows, averaged over `stride` consecutive entries.
std::string loss_rows(const LossCurve& curve, std::size_t stride) {
  std::string rows;
  for (std::size_t begin = 0; begin < curve.steps.size(); begin += stride) {
    const std::size_t end = std::min(curve.steps.size(), begin + stride);
    double sum = 0;
    for (std::size_t i = begin; i < end; ++i) sum += curve.losses[i];
    rows += std::to_string(curve.steps[end - 1]) + " " + gnuplot_number(sum / static_cast<double>(end - begin)) + "\n";
  }
  return rows;
}

std::optional<double> measure_of(const std::optional<PartMeasure>& part, const std::string& measure) {
  if (!part) return std::nullopt;
  if (measure == "cos_batch_clean") return part->cos_batch_clean;
  if (measure == "cos_wm_clean") return part->cos_wm_clean;
  if (measure == "relative_change") return part->relative_change;
  return part->grad_norm;
}

}  // namespace

FigureOutcome loss_figure(GnuplotSession& session, const StudyData& data, bool pretrain) {
  FigureOutcome outcome;
  outcome.title = pretrain ? "Training loss: base model (pretraining)" : "Training loss: fine-tuned models";
  std::vector<const ModelResult*> models;
  for (const ModelResult& m : data.results.models) {
    if ((m.kind == "base") == pretrain && data.losses.count(m.id) && !data.losses.at(m.id).steps.empty()) {
      models.push_back(&m);
    }
  }
  if (models.empty()) {
    outcome.absent = pretrain ? "No training log of the base model (models/base/train_log.jsonl) in the study folder."
                              : "No training log of a fine-tuned model (models/<id>/train_log.jsonl) in the study folder.";
    return outcome;
  }
  std::size_t longest = 0;
  bool positive = true;
  for (const ModelResult* m : models) {
    const LossCurve& curve = data.losses.at(m->id);
    longest = std::max(longest, curve.steps.size());
    for (const double loss : curve.losses) positive = positive && loss > 0;
  }
  const std::size_t stride = (longest + kMaxPoints - 1) / kMaxPoints;
  std::vector<std::string> items;
  for (std::size_t i = 0; i < models.size(); ++i) {
    const std::string file = session.data_file(std::string(pretrain ? "loss_pretrain_" : "loss_finetune_") + std::to_string(i),
                                               loss_rows(data.losses.at(models[i]->id), stride));
    const SeriesStyle style = model_style(data.results, models[i]->id);
    // Seeds of an arm share a colour; a dash pattern per seed keeps overlapping curves apart.
    items.push_back(file + " using 1:2 with lines lc rgb '" + style.color + "' dt " +
                    std::to_string(1 + style.index_in_arm % 5) +
                    " lw 1.3 title " + gnuplot_quote(models[i]->id));
  }
  GnuplotFigure figure;
  figure.name = pretrain ? "loss_pretrain" : "loss_finetune";
  figure.body = "set title " + gnuplot_quote(outcome.title) +
                "\nset xlabel 'step'\nset ylabel 'training loss'\nset key outside right top Left reverse samplen 2\n"
                "set grid\n" + std::string(positive ? "set logscale y\n" : "") + join_plot(items);
  outcome.figure = session.render(figure);
  outcome.caption = std::string("Training loss per optimiser step from models/<id>/train_log.jsonl") +
                    (positive ? ", on a log scale" : "") +
                    (stride > 1 ? "; each point is the mean of " + std::to_string(stride) + " consecutive steps." : ".");
  return outcome;
}

FigureOutcome cosine_figure(GnuplotSession& session, const StudyData& data, const std::string& measure) {
  const bool wm_clean = measure == "cos_wm_clean";
  FigureOutcome outcome;
  outcome.title = wm_clean ? "Gradient cosine between watermarked and clean samples of a batch"
                           : "Gradient cosine of a batch with and without its watermarks";
  std::vector<std::string> items;
  for (std::size_t i = 0; i < data.results.models.size(); ++i) {
    const ModelResult& m = data.results.models[i];
    const auto it = data.dynamics.find(m.id);
    if (m.kind == "base" || it == data.dynamics.end()) continue;
    std::string rows;
    bool any = false;
    for (const DynamicsRow& row : it->second) {
      const auto value = measure_of(row.whole, measure);
      if (!value) continue;
      rows += std::to_string(row.step) + " " + gnuplot_number(value) + "\n";
      any = true;
    }
    if (!any) continue;
    const std::string file = session.data_file(measure + "_" + std::to_string(i), rows);
    const SeriesStyle style = model_style(data.results, m.id);
    const std::string rate = m.rate ? " (r=" + gnuplot_number(m.rate) + ")" : "";
    items.push_back(file + " using 1:2 with linespoints lc rgb '" + style.color + "' lw 1.2 pt " +
                    std::to_string(style.point_type) + " ps 0.6 title " + gnuplot_quote(m.id + rate));
  }
  if (items.empty()) {
    outcome.absent = data.dynamics.empty()
                         ? "No training dynamics: no fine-tuned model has a models/<id>/dynamics.jsonl."
                         : wm_clean ? "No batch held both watermarked and clean samples (only 0 < r < 1 gives such "
                                      "batches), so cos(g_W, g_C) was never measured."
                                    : "The dynamics logs hold no whole-model cos(g_B, g_B_clean) value.";
    return outcome;
  }
  GnuplotFigure figure;
  figure.name = measure;
  figure.body = "set title " + gnuplot_quote(outcome.title + " (whole model)") + "\nset xlabel 'step'\nset ylabel " +
                gnuplot_quote(wm_clean ? "cos(g_W, g_C)" : "cos(g_B, g_B_clean)") +
                "\nset key outside right top Left reverse samplen 2\nset grid\n" + join_plot(items);
  outcome.figure = session.render(figure);
  outcome.caption = wm_clean
                        ? "Cosine between the gradient of a batch's watermarked samples (W) and that of its clean "
                          "samples (C), whole model, at each logged step. Only batches holding both contribute, so "
                          "r = 0 and r = 1 have no line."
                        : "Cosine between the gradient of a batch (g_B) and the gradient of the same batch with the "
                          "original, un-watermarked images (g_B_clean), whole model, at each logged step: 1 means "
                          "the watermarks do not change the update; r = 0 stays at 1 by construction.";
  return outcome;
}

}  // namespace privprobe
