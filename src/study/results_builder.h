// results.json (docs/study-format.md) from the stage outputs in a study folder, the findings
// drawn from it, and the table `study` prints at the end.
#pragma once

#include <cstdio>

#include <nlohmann/json.hpp>

#include "study/study_stages.h"

namespace privprobe {

// The conventions behind the findings (docs/study.md says the same in words).
inline constexpr double kSignificanceLevel = 0.05;  // Holm-corrected p below this, interval above 0
inline constexpr double kChanceMargin = 0.05;       // prompt baseline "near chance": |accuracy - 0.5| <= this
inline constexpr double kVqaMargin = 0.05;          // VQA "unchanged": arm mean within this of the reference arm

// Reads every stage output the plan names. Throws IoError / FormatError naming a missing or
// malformed file. Numbers are rounded to 6 decimals; figures that do not exist are null.
nlohmann::json build_study_results(const StudyContext& context);

// The end table: per model, probes, difference to the base, prompt baseline, VQA; then the
// comparisons, perception, the positive control and the conclusion.
void print_study_table(const nlohmann::json& results, std::FILE* out);

}  // namespace privprobe
