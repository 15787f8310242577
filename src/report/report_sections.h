// The report's text and tables, each returned as an HTML fragment. A section whose data is
// missing returns a sentence saying so instead of an empty table.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "report/figures.h"
#include "report/study_files.h"
#include "report/study_results.h"

namespace privprobe {

// Findings summary, conclusion, positive-control verdict, perception check and the style note.
std::string findings_section(const StudyResults& results);

// The study's end table: one row per model (best-layer probe accuracy with intervals, profile-
// then image-grouped, difference to base, selectivity, prompt baseline, exposure, VQA).
std::string model_table(const StudyResults& results);

// Every comparison in results.json (best layer, difference, interval, Holm-corrected p).
std::string comparison_table(const StudyResults& results);

// Per-arm means over seeds.
std::string arm_table(const StudyResults& results);

// ask: generation contains-rate, calibrated / uncalibrated membership accuracy, exposure.
std::string prompt_table(const StudyResults& results);

// eval: overall VQA accuracy and per question type, per model.
std::string vqa_table(const StudyResults& results);

// Mean of each dynamics measurement per fine-tuned model and part (whole model, then parts).
std::string dynamics_table(const StudyData& data);

// A figure with its caption and links to its files under figures/, or the sentence saying why
// it is absent.
std::string figure_html(const FigureOutcome& outcome);

// The watermarked images embedded as PNG, with their profile ids.
std::string watermark_section(const std::vector<WatermarkedSample>& samples);

// study.toml, escaped, in a <pre>; or why it is absent.
std::string config_section(const std::optional<std::string>& toml);

}  // namespace privprobe
