#include "report/report_sections.h"

#include <algorithm>
#include <set>

#include "report/html.h"

namespace privprobe {

namespace {

std::string paragraph(const std::string& text) { return "<p>" + html_escape(text) + "</p>\n"; }

std::string absent(const std::string& text) { return "<p class=\"absent\">" + html_escape(text) + "</p>\n"; }

std::string rate_text(const ModelResult& m) {
  if (!m.rate) return "\u2013";
  std::string text = format_number(m.rate, 2);
  if (m.realized_rate) text += " (" + format_number(m.realized_rate, 3) + ")";
  return text;
}

std::string best_layer_text(const std::optional<ProbeSummary>& probe) {
  if (!probe) return "\u2013";
  std::string text = format_interval(probe->accuracy, probe->ci_low, probe->ci_high);
  if (probe->best_layer) text += " @" + std::to_string(*probe->best_layer);
  return text;
}

std::optional<double> mean(const std::vector<double>& values) {
  if (values.empty()) return std::nullopt;
  double sum = 0;
  for (const double v : values) sum += v;
  return sum / static_cast<double>(values.size());
}

}  // namespace

std::string findings_section(const StudyResults& results) {
  std::string html;
  if (results.findings) {
    const Findings& f = *results.findings;
    if (!f.conclusion.empty()) {
      html += "<p class=\"conclusion\">Conclusion: <strong>" + html_escape(f.conclusion) + "</strong></p>\n";
    }
    if (!f.summary.empty()) html += paragraph(f.summary);
    HtmlTable table({"question", "answer"});
    table.row().cell("r = 0.5 above the base model (interval above 0 at some layer)?").cell(format_bool(f.r05_above_base));
    table.row().cell("r = 0.5 above r = 1?").cell(format_bool(f.r05_above_r1));
    table.row().cell("Prompt baseline near chance?").cell(format_bool(f.prompt_near_chance));
    table.row().cell("VQA accuracy unchanged by the watermarks?").cell(format_bool(f.vqa_unchanged));
    html += table.str();
  } else {
    html += absent("results.json holds no findings.");
  }

  if (!results.positive_control || !results.positive_control->present) {
    html += paragraph("Positive control: the study has no positive-control arm, so a negative result cannot be told "
                      "apart from a set-up that could not detect memorisation at all.");
  } else {
    const PositiveControl& pc = *results.positive_control;
    const std::string model = pc.model.empty() ? "the control model" : pc.model;
    std::string text = "Positive control (" + model + ", the watermark's username is asked and trained on, so the "
                       "content is task-relevant): ";
    if (!pc.detected) {
      text += "no verdict in results.json.";
    } else if (*pc.detected) {
      text += "detected. The set-up can detect memorisation when it happens.";
    } else {
      text += "NOT detected. The set-up could not detect even task-relevant memorisation, so the task-irrelevant "
              "arms are inconclusive rather than negative.";
    }
    if (!pc.criterion.empty()) text += " Criterion: " + pc.criterion + ".";
    if (pc.revealed && *pc.revealed) {
      text += " Its answers do give the seen profiles away (calibrated membership " +
              format_number(pc.calibrated_membership) + ")";
      text += pc.detected && !*pc.detected ? ": the probes missed memorisation that the outputs show." : ".";
    }
    html += paragraph(text);
  }

  if (results.perception) {
    const Perception& p = *results.perception;
    std::string text = "Perception check of the base model: accuracy " + format_interval(p.accuracy, p.ci_low, p.ci_high);
    if (p.layer) text += " at vision layer " + std::to_string(*p.layer);
    if (p.control) text += " (permuted-label control " + format_number(p.control) + ")";
    text += ".";
    if (!p.what.empty()) text += " Measured by: " + p.what + ".";
    if (p.naming) {
      text += " Asked for the username on held-out images carrying a profile of the set its pretraining taught it to "
              "name (U0), it answers right " + format_number(p.naming);
      text += p.naming_chance ? " of the time (chance " + format_number(p.naming_chance) + ")." : " of the time.";
    }
    html += paragraph(text);
  } else {
    html += absent("No perception check in results.json: whether the base model can tell the private contents apart "
                   "is unknown, and without that every probe is expected at chance.");
  }
  if (!results.style.empty()) {
    html += paragraph("Private content drawn as: " + results.style + (results.style_note.empty() ? "." : ". " + results.style_note));
  }
  return html;
}

std::string model_table(const StudyResults& results) {
  HtmlTable table({"model", "arm", "rate (realized)", "probe, profile folds", "probe, image folds", "vs base",
                   "mean selectivity", "prompt: contains", "prompt: membership", "exposure seen / unseen", "VQA",
                   "steps", "final loss"},
                  "Best-layer probe accuracy with its 95 % interval and the layer (@); profile-grouped folds lead, "
                  "image-grouped folds (confounded by identity) beside them.");
  for (const ModelResult& m : results.models) {
    table.row().cell(m.id).cell(m.arm).cell(rate_text(m));
    table.cell(best_layer_text(m.probe_profile)).cell(best_layer_text(m.probe_image));
    if (m.vs_base) {
      std::string text = format_interval(m.vs_base->difference, m.vs_base->ci_low, m.vs_base->ci_high);
      if (m.vs_base->layer) text += " @" + std::to_string(*m.vs_base->layer);
      if (m.vs_base->p_holm) text += ", p=" + format_number(m.vs_base->p_holm);
      table.cell(text);
    } else {
      table.cell("\u2013");
    }
    table.cell(format_number(m.probe_profile ? m.probe_profile->mean_selectivity : std::nullopt));
    table.cell(format_number(m.ask ? m.ask->contains_rate : std::nullopt));
    table.cell(format_number(m.ask ? m.ask->calibrated_accuracy : std::nullopt));
    table.cell(m.ask ? format_number(m.ask->exposure_seen, 2) + " / " + format_number(m.ask->exposure_unseen, 2) : "\u2013");
    table.cell(format_number(m.eval ? m.eval->accuracy : std::nullopt));
    table.cell(m.train_steps ? std::to_string(*m.train_steps) : "\u2013").cell(format_number(m.final_loss));
  }
  return table.str();
}

std::string comparison_table(const StudyResults& results) {
  if (results.comparisons.empty()) return absent("results.json holds no comparisons.");
  HtmlTable table({"comparison", "first", "second", "folds", "best layer", "difference [95 % interval]", "p (Holm)",
                   "significant"});
  for (const Comparison& c : results.comparisons) {
    table.row().cell(c.name).cell(c.tuned).cell(c.base).cell(c.group_by);
    table.cell(c.best_layer ? std::to_string(*c.best_layer) : "\u2013");
    table.cell(format_interval(c.difference, c.ci_low, c.ci_high)).cell(format_number(c.p_holm)).cell(format_bool(c.significant));
  }
  return table.str();
}

std::string arm_table(const StudyResults& results) {
  if (results.arms.empty()) return absent("results.json holds no per-arm summary.");
  HtmlTable table({"arm", "rate", "models", "best-layer accuracy, mean \u00b1 sd", "difference to base, mean", "VQA, mean"});
  for (const ArmSummary& a : results.arms) {
    std::string models;
    for (const std::string& m : a.models) models += (models.empty() ? "" : ", ") + m;
    std::string accuracy = format_number(a.best_layer_accuracy_mean);
    if (a.best_layer_accuracy_sd) accuracy += " \u00b1 " + format_number(a.best_layer_accuracy_sd);
    table.row().cell(a.arm).cell(format_number(a.rate, 2)).cell(models).cell(accuracy);
    table.cell(format_number(a.difference_to_base_mean)).cell(format_number(a.vqa_accuracy_mean));
  }
  return table.str();
}

std::string prompt_table(const StudyResults& results) {
  HtmlTable table({"model", "generation contains username", "membership accuracy (calibrated)", "membership AUC (calibrated)",
                   "membership accuracy (uncalibrated)", "exposure seen", "exposure unseen"},
                  "Asked directly: (a) the share of greedy answers that contain the true username; (b) the "
                  "likelihood of the true username as a seen/unseen classifier; (c) exposure in bits.");
  for (const ModelResult& m : results.models) {
    if (!m.ask) continue;
    const AskSummary& a = *m.ask;
    table.row().cell(m.id).cell(format_number(a.contains_rate)).cell(format_number(a.calibrated_accuracy));
    table.cell(format_number(a.calibrated_auc)).cell(format_number(a.uncalibrated_accuracy));
    table.cell(format_number(a.exposure_seen, 2)).cell(format_number(a.exposure_unseen, 2));
  }
  if (table.empty()) return absent("No prompt baseline: no model in results.json has an ask result.");
  return table.str();
}

std::string vqa_table(const StudyResults& results) {
  std::set<std::string> types;
  for (const ModelResult& m : results.models) {
    if (m.eval) {
      for (const auto& [type, value] : m.eval->by_type) types.insert(type);
    }
  }
  std::vector<std::string> header = {"model", "overall"};
  header.insert(header.end(), types.begin(), types.end());
  HtmlTable table(header, "Exact-match accuracy of the normalised answer on clean held-out questions.");
  for (const ModelResult& m : results.models) {
    if (!m.eval) continue;
    table.row().cell(m.id).cell(format_number(m.eval->accuracy));
    for (const std::string& type : types) {
      const auto it = std::find_if(m.eval->by_type.begin(), m.eval->by_type.end(),
                                   [&](const auto& entry) { return entry.first == type; });
      table.cell(it == m.eval->by_type.end() ? "\u2013" : format_number(it->second));
    }
  }
  if (table.empty()) return absent("No VQA accuracy: no model in results.json has an eval result.");
  return table.str();
}

std::string dynamics_table(const StudyData& data) {
  HtmlTable table({"model", "part", "steps logged", "cos(g_B, g_B_clean)", "cos(g_W, g_C)", "steps with W and C",
                   "|g_B \u2212 g_B_clean| / |g_B|", "gradient norm", "watermarked share"},
                  "Means over the logged steps; a part without gradients (frozen) is marked so.");
  for (const ModelResult& m : data.results.models) {
    const auto it = data.dynamics.find(m.id);
    if (it == data.dynamics.end() || it->second.empty()) continue;
    const std::vector<DynamicsRow>& rows = it->second;
    std::vector<std::string> parts = {"whole model"};
    for (const char* known : {"vision_tower", "multi_modal_projector", "language_model"}) {
      for (const DynamicsRow& r : rows) {
        if (r.parts.count(known)) {
          parts.push_back(known);
          break;
        }
      }
    }
    for (const auto& [name, value] : rows.front().parts) {
      if (std::find(parts.begin(), parts.end(), name) == parts.end()) parts.push_back(name);
    }
    for (const std::string& part : parts) {
      std::vector<double> cos_batch, cos_wm, change, norm, share;
      bool frozen = true;
      for (const DynamicsRow& r : rows) {
        const auto found = r.parts.find(part);
        const std::optional<PartMeasure>& measure =
            part == "whole model" ? r.whole : (found == r.parts.end() ? std::optional<PartMeasure>() : found->second);
        share.push_back(r.wm_fraction);
        if (!measure) continue;
        frozen = false;
        if (measure->cos_batch_clean) cos_batch.push_back(*measure->cos_batch_clean);
        if (measure->cos_wm_clean) cos_wm.push_back(*measure->cos_wm_clean);
        if (measure->relative_change) change.push_back(*measure->relative_change);
        if (measure->grad_norm) norm.push_back(*measure->grad_norm);
      }
      table.row().cell(m.id).cell(part).cell(std::to_string(rows.size()));
      if (frozen) {
        table.cell("frozen").cell("\u2013").cell("\u2013").cell("\u2013").cell("\u2013");
      } else {
        table.cell(format_number(mean(cos_batch), 4)).cell(format_number(mean(cos_wm), 4)).cell(std::to_string(cos_wm.size()));
        table.cell(format_number(mean(change), 4)).cell(format_number(mean(norm), 4));
      }
      table.cell(format_number(mean(share)));
    }
  }
  if (table.empty()) return absent("No training dynamics: no fine-tuned model has a models/<id>/dynamics.jsonl.");
  return table.str();
}

std::string figure_html(const FigureOutcome& outcome) {
  std::string html = "<h3>" + html_escape(outcome.title) + "</h3>\n";
  if (!outcome.figure) return html + absent(outcome.absent);
  const RenderedFigure& f = *outcome.figure;
  const std::string name = html_escape(f.name);
  html += "<figure id=\"fig-" + name + "\"><img src=\"" + data_uri("image/png", f.png) + "\" alt=\"" +
          html_escape(outcome.title) + "\">\n<figcaption>" + html_escape(outcome.caption) + " Files: <a href=\"figures/" +
          name + ".svg\">figures/" + name + ".svg</a>, <a href=\"figures/" + name + ".png\">figures/" + name +
          ".png</a>.</figcaption></figure>\n";
  return html;
}

std::string watermark_section(const std::vector<WatermarkedSample>& samples) {
  if (samples.empty()) {
    return absent("No watermarked training image: no data/embed/<arm>/manifest.jsonl lists an image with a profile.");
  }
  std::string html = "<div class=\"samples\">\n";
  for (const WatermarkedSample& s : samples) {
    html += "<figure><img src=\"" + data_uri("image/png", s.png) + "\" width=\"" + std::to_string(s.width) +
            "\" height=\"" + std::to_string(s.height) + "\" alt=\"watermarked image\">\n<figcaption>" +
            html_escape("data/embed/" + s.arm + "/" + s.output) + "<br>profile " + html_escape(s.profile) +
            "</figcaption></figure>\n";
  }
  return html + "</div>\n";
}

std::string config_section(const std::optional<std::string>& toml) {
  if (!toml) return absent("No study.toml in the study folder.");
  return "<pre class=\"config\">" + html_escape(*toml) + "</pre>\n";
}

}  // namespace privprobe
