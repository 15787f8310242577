// `privprobe doctor`: the numerical stack as privprobe sees it, with a hint when a faster setting
// is known.
#include <cstdio>
#include <filesystem>

#include "commands.h"
#include "image/text_render.h"
#include "model/runtime.h"

namespace privprobe::cli {

void register_doctor(CLI::App& app) {
  auto* cmd = app.add_subcommand("doctor", "Report libtorch, BLAS and its kernel, threads, CUDA and fonts");
  auto threads = std::make_shared<int>(0);
  cmd->add_option("--threads", *threads, "Thread setting to report on (0: privprobe's default)");
  cmd->callback([threads] {
    configure_threads(*threads);
    const RuntimeInfo info = runtime_info();
    std::printf("libtorch        %s\n", info.torch_version.c_str());
    std::printf("BLAS library    %s\n", info.blas_library.c_str());
    if (!info.openblas_core.empty()) {
      std::printf("OpenBLAS kernel %s%s\n", info.openblas_core.c_str(),
                  info.openblas_coretype_env.empty() ? "" : (" (forced by OPENBLAS_CORETYPE=" + info.openblas_coretype_env + ")").c_str());
      std::printf("OpenBLAS build  %s\n", info.openblas_config.c_str());
    }
    std::printf("threads         libtorch %d, BLAS %d\n", info.torch_threads, info.blas_threads);
    std::printf("CPU features    %s\n", info.cpu_flags_summary.empty() ? "(none of avx2/avx512 found)" : info.cpu_flags_summary.c_str());
    std::printf("CUDA            %s\n",
                info.cuda_available ? (std::to_string(info.cuda_devices) + " device(s)").c_str() : "not available");
    const auto font = default_font_path();
    std::printf("font            %s (%s)\n", font.string().c_str(), std::filesystem::exists(font) ? "found" : "MISSING");
    if (!info.hint.empty()) std::printf("hint            %s\n", info.hint.c_str());
  });
}

}  // namespace privprobe::cli
