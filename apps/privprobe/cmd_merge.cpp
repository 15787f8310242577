// `privprobe merge OUT SHARD...`: join the shards of `extract --shard i/N` (see src/probeset/activation_file.h).
#include <cstdint>
#include <cstdio>
#include <memory>

#include "commands.h"
#include "probeset/activation_file.h"

namespace privprobe::cli {

void register_merge(CLI::App& app) {
  auto* cmd = app.add_subcommand("merge", "Join the shards of a sharded extract into one activations file");
  auto config = std::make_shared<MergeConfig>();
  auto seed = std::make_shared<std::uint64_t>(0);
  cmd->add_option("out", config->out, "Output activations file (its .json metadata is written beside it)")->required();
  cmd->add_option("shards", config->shards, "Every shard of the run, in any order")->required();
  cmd->add_option("--seed", *seed, "Unused: merging draws no randomness (accepted as by every subcommand)");
  cmd->callback([config] {
    const MergeResult r = run_merge(*config);
    std::printf("merge: %zu shards, %lld samples -> %s\n", r.shards, static_cast<long long>(r.samples),
                config->out.string().c_str());
  });
}

}  // namespace privprobe::cli
