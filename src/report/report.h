// `privprobe report DIR`: renders a study folder (docs/study-format.md) into a self-contained
// report.html (figures and sample images embedded as PNG data URIs, no network, no external CSS,
// script or font) plus figures/ holding every figure as PNG and SVG, drawn with gnuplot. Optional
// parts of the study (dynamics, ask, control arm, activations, images, study.toml) that are missing
// leave their section out with a sentence saying why. Same study folder, same bytes.
#pragma once

#include <filesystem>
#include <vector>

namespace privprobe {

struct ReportConfig {
  std::filesystem::path study;  // the study folder (results.json must exist)
  std::filesystem::path out;    // report.html's folder; empty: the study folder
  bool progress = true;
};

struct ReportResult {
  std::filesystem::path html;
  std::vector<std::filesystem::path> figures;  // every PNG and SVG written
};

// Throws IoError / FormatError naming the file when the study folder or a file it needs is
// missing or malformed; ConfigError when gnuplot is not installed.
ReportResult run_report(const ReportConfig& config);

}  // namespace privprobe
