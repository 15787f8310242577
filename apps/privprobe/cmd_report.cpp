// `privprobe report DIR`: render a study folder into report.html and figures/ (src/report/report.h).
#include <cstdint>
#include <cstdio>
#include <memory>

#include "commands.h"
#include "report/report.h"

namespace privprobe::cli {

void register_report(CLI::App& app) {
  auto* cmd = app.add_subcommand("report", "Render a study folder into a self-contained report.html with figures");
  auto config = std::make_shared<ReportConfig>();
  auto seed = std::make_shared<std::uint64_t>(0);
  cmd->add_option("dir", config->study, "Study folder (written by `privprobe study`; results.json must exist)")->required();
  cmd->add_option("--out", config->out, "Folder for report.html and figures/ (default: the study folder)");
  cmd->add_option("--seed", *seed, "Unused: the report draws no randomness (accepted as by every subcommand)");
  cmd->callback([config] {
    const ReportResult r = run_report(*config);
    std::printf("report: %s (%zu figure files)\n", r.html.string().c_str(), r.figures.size());
  });
}

}  // namespace privprobe::cli
