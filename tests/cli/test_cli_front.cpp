// The front binary (apps/privprobe/front.cpp): `probe` runs in a process that loads neither
// libtorch nor OpenCV; every other command is handed to privprobe-full beside it, and a missing
// privprobe-full is a clear error naming where it was looked for.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "support/test_support.h"

namespace privprobe {
namespace {

namespace fs = std::filesystem;

std::string shared_libraries_of(const fs::path& binary) {
  std::string listing;
  FILE* pipe = ::popen(("ldd '" + binary.string() + "' 2>&1").c_str(), "r");
  if (!pipe) return "popen failed";
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe)) listing += buffer;
  ::pclose(pipe);
  return listing;
}

TEST(CliFront, ProbeBinaryLoadsNeitherLibtorchNorOpenCV) {
  const std::string libraries = shared_libraries_of(PRIVPROBE_BINARY);
  ASSERT_NE(libraries.find("libc.so"), std::string::npos) << libraries;  // ldd worked
  EXPECT_EQ(libraries.find("libtorch"), std::string::npos) << libraries;
  EXPECT_EQ(libraries.find("libc10"), std::string::npos) << libraries;
  EXPECT_EQ(libraries.find("libopencv"), std::string::npos) << libraries;
  EXPECT_NE(libraries.find("libblas"), std::string::npos) << "the probe's solver calls CBLAS: " << libraries;
}

TEST(CliFront, OtherCommandsReachPrivprobeFull) {
  const auto version = test::run_privprobe({"--version"});
  EXPECT_EQ(version.exit_code, 0) << version.output;
  EXPECT_NE(version.output.find("privprobe "), std::string::npos) << version.output;
  const auto help = test::run_privprobe({"-q", "train", "--help"});
  EXPECT_EQ(help.exit_code, 0) << help.output;
  EXPECT_NE(help.output.find("--image-root"), std::string::npos) << help.output;
  const auto overall = test::run_privprobe({"--help"});
  EXPECT_EQ(overall.exit_code, 0) << overall.output;
  for (const char* command : {"probe", "study", "extract", "report"}) {
    EXPECT_NE(overall.output.find(command), std::string::npos) << command << " missing from\n" << overall.output;
  }
}

TEST(CliFront, WithoutPrivprobeFullOnlyProbeRuns) {
  test::TempDir dir("cli-front");
  const fs::path alone = dir / "privprobe";
  fs::copy_file(PRIVPROBE_BINARY, alone);
  fs::permissions(alone, fs::perms::owner_all);
  const auto probe = test::run_binary(alone, {"probe", "--help"});
  EXPECT_EQ(probe.exit_code, 0) << probe.output;
  EXPECT_NE(probe.output.find("--acts"), std::string::npos) << probe.output;
  const auto other = test::run_binary(alone, {"synth", "--out", (dir / "album").string()});
  EXPECT_EQ(other.exit_code, 127) << other.output;
  EXPECT_NE(other.output.find((dir / "privprobe-full").string() + ": cannot run it"), std::string::npos) << other.output;
  EXPECT_FALSE(fs::exists(dir / "album")) << "nothing is written";
}

}  // namespace
}  // namespace privprobe
