// What every privprobe binary shares around its subcommands: the global flags (--version, -v,
// -q), logging, and errors turned into a message on stderr and an exit code.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace privprobe::cli {

inline constexpr const char* kDescription =
    "privprobe: audit whether multimodal LLMs memorise task-irrelevant private content";

// Parses argv with the subcommands `register_commands` adds and runs the one named; returns the
// process's exit code.
int run_cli(int argc, char** argv, const char* description, const std::function<void(CLI::App&)>& register_commands);

}  // namespace privprobe::cli
