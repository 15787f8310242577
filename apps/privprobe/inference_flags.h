// The flags every model-running subcommand (extract, ask, eval) shares.
#pragma once

#include <CLI/CLI.hpp>

#include "infer/inference_options.h"

namespace privprobe::cli {

inline void add_inference_flags(CLI::App* cmd, InferenceOptions& options) {
  cmd->add_option("--device", options.device, "cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--dtype", options.dtype, "Weights computed in f32, bf16 or f16")->capture_default_str();
  cmd->add_option("--threads", options.threads, "CPU threads (0: the measured best split for this machine)")
      ->capture_default_str();
  cmd->add_option("--template", options.template_name, "Conversation template (default: the checkpoint's)");
}

}  // namespace privprobe::cli
