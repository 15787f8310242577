// `privprobe dynamics compare RUN_A RUN_B`: per-step cosine between two runs' gradient sketches
// (see src/train/dynamics_compare.h).
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "train/dynamics_compare.h"
#include "util/json_io.h"

namespace privprobe::cli {

void register_dynamics(CLI::App& app) {
  auto* cmd = app.add_subcommand("dynamics", "Analyse training dynamics logged with --dynamics-every");
  cmd->require_subcommand(1);
  auto* compare = cmd->add_subcommand("compare", "Per-step cosine between two runs' gradient sketches");
  auto run_a = std::make_shared<std::string>();
  auto run_b = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  compare->add_option("RUN_A", *run_a, "A run folder (with dynamics.jsonl) or a dynamics.jsonl file")->required();
  compare->add_option("RUN_B", *run_b, "The run to compare with (same seed, so the same data order)")->required();
  compare->add_option("--out", *out, "Also write the comparison as JSON to this file");

  compare->callback([run_a, run_b, out] {
    const SketchComparison comparison = compare_dynamics(*run_a, *run_b);
    std::fputs(format_sketch_comparison(comparison).c_str(), stdout);
    if (!out->empty()) write_json_atomic(*out, sketch_comparison_to_json(comparison));
  });
}

}  // namespace privprobe::cli
