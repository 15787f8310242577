// run_report: loads the study folder, draws every figure, writes figures/ and report.html.
#include "report/report.h"

#include <set>

#include "report/figures.h"
#include "report/gnuplot.h"
#include "report/html.h"
#include "report/report_sections.h"
#include "report/study_files.h"
#include "report/study_results.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/log.h"
#include "util/progress.h"

namespace privprobe {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kWatermarkSamples = 4;
constexpr int kWatermarkMaxSide = 320;

constexpr const char* kStyle = R"(body{font-family:"DejaVu Sans",Verdana,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc}h3{font-size:1.05em;margin-top:1.5em}
table{border-collapse:collapse;margin:1em 0;font-size:.88em}th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f2f2f2}caption{caption-side:bottom;text-align:left;color:#555;font-size:.9em;padding-top:.3em}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}figcaption{color:#444;font-size:.9em}
.samples{display:flex;flex-wrap:wrap;gap:1em}.samples figure{margin:0;max-width:340px}
.absent{color:#8a5a00;font-style:italic}.conclusion{font-size:1.1em}
pre.config{background:#f7f7f7;border:1px solid #ddd;padding:1em;overflow-x:auto;font-size:.85em})";

// Runs on load in a browser: counts the images and inline SVGs that rendered, so a headless
// browser test (and a curious reader) can see that every figure decoded.
constexpr const char* kRenderCheck = R"(<script>
window.addEventListener('load', function () {
  var ok = 0, total = 0;
  Array.prototype.forEach.call(document.images, function (img) {
    total++; if (img.complete && img.naturalWidth > 0) ok++;
  });
  Array.prototype.forEach.call(document.querySelectorAll('svg'), function (svg) {
    total++; var box = svg.getBoundingClientRect(); if (box.width > 0 && box.height > 0) ok++;
  });
  document.body.setAttribute('data-figures-ok', ok + '/' + total);
});
</script>
)";

// Models whose states the PCA shows: the base and the first model (seed) of each fine-tuned arm.
std::vector<std::string> pca_models(const StudyResults& results) {
  std::vector<std::string> ids;
  std::set<std::string> arms;
  for (const ModelResult& m : results.models) {
    if (arms.insert(m.arm).second) ids.push_back(m.id);
  }
  return ids;
}

std::string preferred_embed_arm(const StudyResults& results) {
  for (const ModelResult& m : results.models) {
    if (m.rate && *m.rate > 0 && *m.rate < 1) return m.arm;
  }
  return "r0.5";
}

std::optional<std::string> read_optional_text(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  return read_file(path);
}

std::string section(const std::string& id, const std::string& heading, const std::string& body) {
  return "<section id=\"" + id + "\">\n<h2>" + html_escape(heading) + "</h2>\n" + body + "</section>\n";
}

}  // namespace

ReportResult run_report(const ReportConfig& config) {
  if (config.study.empty()) throw ConfigError(error_message("report", "no study folder given"));
  StudyData data;
  data.folder = config.study;
  data.results = load_study_results(config.study);
  for (const ModelResult& m : data.results.models) {
    if (auto curve = load_loss_curve(config.study, m.id)) data.losses.emplace(m.id, std::move(*curve));
    if (auto rows = load_dynamics(config.study, m.id)) data.dynamics.emplace(m.id, std::move(*rows));
  }
  const fs::path out = config.out.empty() ? config.study : config.out;
  const fs::path figures_dir = out / "figures";

  // Every input is read before the first figure is drawn: a bad file fails the report at once.
  std::vector<PcaInput> pca_inputs;
  for (const std::string& id : pca_models(data.results)) pca_inputs.push_back(load_pca_input(data, id));
  const std::vector<WatermarkedSample> samples =
      load_watermarked_samples(config.study, preferred_embed_arm(data.results), kWatermarkSamples, kWatermarkMaxSide);
  const std::optional<std::string> toml = read_optional_text(config.study / "study.toml");

  GnuplotSession session;
  Progress progress("report", 7 + pca_inputs.size(), config.progress && progress_enabled_by_default());
  ReportResult result;
  auto draw = [&](FigureOutcome outcome) {
    if (outcome.figure) {
      const fs::path png = figures_dir / (outcome.figure->name + ".png");
      const fs::path svg = figures_dir / (outcome.figure->name + ".svg");
      write_file_atomic(png, outcome.figure->png);
      write_file_atomic(svg, outcome.figure->svg);
      result.figures.push_back(png);
      result.figures.push_back(svg);
    }
    progress.tick();
    return figure_html(outcome);
  };

  const StudyResults& r = data.results;
  std::string probing = draw(probe_accuracy_figure(session, r, "profile"));
  probing += draw(probe_accuracy_figure(session, r, "image"));
  std::string differences = draw(difference_figure(session, r));
  differences += "<h3>Comparisons</h3>\n" + comparison_table(r) + "<h3>Arms (means over seeds)</h3>\n" + arm_table(r);
  std::string training = draw(loss_figure(session, data, true));
  training += draw(loss_figure(session, data, false));
  std::string dynamics = draw(cosine_figure(session, data, "cos_batch_clean"));
  dynamics += draw(cosine_figure(session, data, "cos_wm_clean"));
  dynamics += "<h3>Dynamics summaries</h3>\n" + dynamics_table(data);
  std::string states;
  for (const PcaInput& input : pca_inputs) states += draw(pca_figure(session, input));

  std::string html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                     "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                     "<title>privprobe study report</title>\n<style>\n" + std::string(kStyle) + "\n</style>\n</head>\n<body>\n";
  html += "<h1>privprobe study report</h1>\n<p>Does fine-tuning on images that carry task-irrelevant private content "
          "(watermarked profiles, seen U1 vs never-trained U2) leave that content readable in the model's hidden "
          "states? Study written by " + html_escape(r.privprobe.empty() ? "privprobe" : "privprobe " + r.privprobe) +
          "; every number below comes from results.json and the files beside it.</p>\n";
  html += section("findings", "Findings", findings_section(r));
  html += section("models", "Results by model", model_table(r));
  html += section("probing", "Probing: accuracy by layer", probing);
  html += section("differences", "Differences between models", differences);
  html += section("prompt", "Prompt baseline", prompt_table(r));
  html += section("vqa", "Task performance (VQA)", vqa_table(r));
  html += section("training", "Training", training);
  html += section("dynamics", "Gradient dynamics", dynamics);
  html += section("states", "Hidden states", states);
  html += section("watermarks", "Watermarked training images", watermark_section(samples));
  html += section("config", "Configuration (study.toml)", config_section(toml));
  html += kRenderCheck;
  html += "</body>\n</html>\n";

  result.html = out / "report.html";
  write_file_atomic(result.html, html);
  progress.finish();
  spdlog::info("report: wrote {} and {} figure files", result.html.string(), result.figures.size());
  return result;
}

}  // namespace privprobe
