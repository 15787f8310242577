// `privprobe profiles`: flags -> ProfilesConfig -> run_profiles, then a one-line summary on stdout.
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "profiles/generate.h"

namespace privprobe::cli {

void register_profiles(CLI::App& app) {
  auto config = std::make_shared<ProfilesConfig>();
  CLI::App* sub = app.add_subcommand("profiles", "Generate synthetic private profiles (JSONL)");
  CLI::Option* count = sub->add_option("--count", config->count, "Number of profiles (default 20; with --match, that set's size)");
  sub->add_option("--seed", config->seed, "Random seed")->capture_default_str();
  sub->add_option("--out", config->out, "Output JSONL file")->required();
  sub->add_option("--exclude", config->exclude, "Profile sets to stay disjoint from (username, user_id)");
  sub->add_option("--match", config->match,
                  "Profile set to match: same count, each username with as many characters as its counterpart");
  sub->add_option("--id-prefix", config->id_prefix, "Prefix of the ids (<prefix><4-digit index>)")->capture_default_str();
  sub->callback([config, count] {
    config->count_explicit = count->count() > 0;
    const auto profiles = run_profiles(*config);
    std::string summary = "profiles: wrote " + std::to_string(profiles.size()) + " profiles to " + config->out.string() +
                          " (seed " + std::to_string(config->seed);
    if (!config->exclude.empty()) summary += ", disjoint from " + std::to_string(config->exclude.size()) + " set(s)";
    if (!config->match.empty()) summary += ", username lengths matched to " + config->match.string();
    std::printf("%s)\n", summary.c_str());
  });
}

}  // namespace privprobe::cli
