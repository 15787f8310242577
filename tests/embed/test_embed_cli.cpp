// `privprobe embed` as a user runs it: every bad-input class under --on-error fail (non-zero exit,
// one line naming the file and the reason, no manifest, nothing half-written) and skip (recorded,
// the run goes on); a run killed with SIGKILL and resumed; the summary line.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <thread>

#include <nlohmann/json.hpp>

#include "embed/embed.h"
#include "embed/embed_fixtures.h"
#include "embed/manifest.h"
#include "support/test_support.h"
#include "util/atomic_file.h"
#include "util/json_io.h"

namespace fs = std::filesystem;

namespace privprobe {
namespace {

struct Album {
  test::TempDir dir{"embed-cli"};
  fs::path in = dir / "in";
  fs::path profiles = dir / "profiles.jsonl";
  Album() {
    for (int i = 0; i < 3; ++i) test::write_image(in / ("good" + std::to_string(i) + ".png"), test::noise_image(120, 90, 3, CV_8U, i));
    test::write_profiles_jsonl(profiles, 4);
  }
  std::vector<std::string> args(const std::string& out, const std::string& rate, const std::string& on_error) const {
    return {"embed", "--images", in.string(), "--profiles", profiles.string(), "--rate", rate,
            "--out", (dir / out).string(), "--seed", "3", "--on-error", on_error};
  }
};

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

bool has_temp_files(const fs::path& dir) {
  if (!fs::exists(dir)) return false;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (contains(e.path().filename().string(), std::string(kTempMarker))) return true;
  }
  return false;
}

std::vector<std::uint8_t> truncated(const std::vector<std::uint8_t>& bytes) {
  return std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + static_cast<long>(bytes.size() / 2));
}

struct BadImage {
  std::string file;  // name under the input folder
  std::function<std::vector<std::uint8_t>()> bytes;
  std::vector<std::string> extra_args;
  bool caught_by_header;  // detected without decoding (so even with --no-verify-copies)
};

std::vector<BadImage> bad_images() {
  return {
      {"truncated.jpg", [] { return truncated(test::encode_jpeg(test::noise_image(160, 120, 3))); }, {}, false},
      {"truncated.png",
       [] {
         test::TempDir t("png");
         test::write_image(t / "x.png", test::noise_image(160, 120, 3));
         return truncated(test::read_bytes(t / "x.png"));
       },
       {},
       false},
      {"corrupt.jpg",
       [] {
         auto b = test::encode_jpeg(test::noise_image(160, 120, 3));
         for (std::size_t i = b.size() / 3; i < b.size() / 3 + 200; ++i) b[i] = 0xFF;  // markers inside scan data
         return b;
       },
       {},
       false},
      {"empty.png", [] { return std::vector<std::uint8_t>(); }, {}, true},
      {"notes.jpg",
       [] {
         const std::string text = "this is a text file, not a JPEG\n";
         return std::vector<std::uint8_t>(text.begin(), text.end());
       },
       {},
       true},
      {"huge.png", [] { return test::png_header_only(20000, 20000); }, {}, true},  // 400 MP declared
      {"large.png",
       [] {
         test::TempDir t("png");
         test::write_image(t / "x.png", test::noise_image(300, 200, 3));
         return test::read_bytes(t / "x.png");
       },
       {"--max-pixels", "50000"},
       true},
  };
}

TEST(EmbedCli, EachBadImageFailsTheRunUnderFail) {
  for (const auto& bad : bad_images()) {
    for (const std::string rate : {"1", "0"}) {
      SCOPED_TRACE(bad.file + " at rate " + rate);
      Album album;
      test::write_bytes(album.in / bad.file, bad.bytes());
      auto args = album.args("out", rate, "fail");
      args.insert(args.end(), bad.extra_args.begin(), bad.extra_args.end());
      const auto r = test::run_privprobe(args);
      EXPECT_NE(r.exit_code, 0) << r.output;
      EXPECT_TRUE(contains(r.output, bad.file)) << r.output;
      EXPECT_TRUE(contains(r.output, "error")) << r.output;
      EXPECT_FALSE(fs::exists(album.dir / "out/manifest.jsonl"));
      EXPECT_FALSE(fs::exists(album.dir / "out/embed_config.json"));
      EXPECT_FALSE(fs::exists(album.dir / "out/images" / bad.file));
      EXPECT_FALSE(has_temp_files(album.dir / "out"));
    }
  }
}

TEST(EmbedCli, EveryBadImageIsRecordedUnderSkip) {
  // All classes in one album (the --max-pixels case is checked on its own below).
  for (const std::string rate : {"1", "0"}) {
    SCOPED_TRACE("rate " + rate);
    Album album;
    std::vector<std::string> bad_files;
    for (const auto& bad : bad_images()) {
      if (!bad.extra_args.empty()) continue;
      test::write_bytes(album.in / bad.file, bad.bytes());
      bad_files.push_back(bad.file);
    }
    const auto before = test::hash_tree(album.in);
    const auto r = test::run_privprobe(album.args("out", rate, "skip"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(contains(r.output, "skipped " + std::to_string(bad_files.size()) + " images")) << r.output;
    const auto rows = load_manifest(album.dir / "out/manifest.jsonl");
    ASSERT_EQ(rows.size(), 3u + bad_files.size());
    for (const auto& row : rows) {
      SCOPED_TRACE(row.source);
      if (std::find(bad_files.begin(), bad_files.end(), row.source) != bad_files.end()) {
        EXPECT_EQ(row.status, "skipped");
        EXPECT_TRUE(contains(row.error, row.source)) << row.error;
        EXPECT_TRUE(row.output.empty());
        EXPECT_EQ(row.source_sha256.size(), 64u);  // the file was read, so its hash is known
        EXPECT_TRUE(row.profile.empty());
        EXPECT_FALSE(fs::exists(album.dir / "out/images" / row.source));
      } else {
        EXPECT_EQ(row.status, "ok") << row.error;
        EXPECT_TRUE(fs::exists(album.dir / "out" / row.output));
      }
    }
    EXPECT_EQ(test::hash_tree(album.in), before);
  }
}

TEST(EmbedCli, AnImageOverMaxPixelsIsRecordedUnderSkip) {
  Album album;
  test::write_image(album.in / "large.png", test::noise_image(300, 200, 3));
  auto args = album.args("out", "0", "skip");
  args.insert(args.end(), {"--max-pixels", "50000"});
  const auto r = test::run_privprobe(args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const auto& row : load_manifest(album.dir / "out/manifest.jsonl")) {
    EXPECT_EQ(row.status, row.source == "large.png" ? "skipped" : "ok") << row.source;
    if (row.source == "large.png") {
      EXPECT_TRUE(contains(row.error, "50000")) << row.error;
    }
  }
}

// A LLaVA JSON over the album's good images plus one more sample with `image_path`.
void write_data_with(const Album& album, const std::string& image_path) {
  test::write_text(album.dir / "train.json", test::llava_json_for({"good0.png", image_path, "good1.png"}));
}

std::vector<std::string> data_args(const Album& album, const std::string& on_error) {
  return {"embed", "--data", (album.dir / "train.json").string(), "--image-root", album.in.string(), "--profiles",
          album.profiles.string(), "--rate", "1", "--out", (album.dir / "out").string(), "--on-error", on_error};
}

TEST(EmbedCli, BadImagePathsInTheJson) {
  struct PathCase {
    std::string path;
    std::string reason;
  };
  const std::vector<PathCase> cases = {
      {"missing.png", "not found"},
      {"/etc/hostname", "absolute"},
      {"../outside.png", ".."},
      {"good0.png/../../outside.png", ".."},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.path);
    {
      Album album;
      test::write_image(album.dir / "outside.png", test::noise_image(20, 20, 3));
      write_data_with(album, c.path);
      const auto r = test::run_privprobe(data_args(album, "fail"));
      EXPECT_NE(r.exit_code, 0) << r.output;
      EXPECT_TRUE(contains(r.output, c.reason)) << r.output;
      if (c.reason == "not found") {
        EXPECT_TRUE(contains(r.output, "missing.png")) << r.output;
      } else {
        EXPECT_TRUE(contains(r.output, "train.json, sample 1")) << r.output;
      }
      EXPECT_FALSE(fs::exists(album.dir / "out/manifest.jsonl"));
      EXPECT_FALSE(fs::exists(album.dir / "out/train.json"));
    }
    {
      Album album;
      write_data_with(album, c.path);
      const auto r = test::run_privprobe(data_args(album, "skip"));
      ASSERT_EQ(r.exit_code, 0) << r.output;
      EXPECT_TRUE(contains(r.output, "dropped 1 sample)")) << r.output;
      const auto rows = load_manifest(album.dir / "out/manifest.jsonl");
      ASSERT_EQ(rows.size(), 3u);
      int skipped = 0;
      for (const auto& row : rows) {
        if (row.status == "skipped") {
          ++skipped;
          EXPECT_EQ(row.source, c.path);
          EXPECT_TRUE(contains(row.error, c.reason)) << row.error;
        }
      }
      EXPECT_EQ(skipped, 1);
      const auto rewritten = read_json(album.dir / "out/train.json");
      ASSERT_EQ(rewritten.size(), 2u);  // the sample with the bad path is dropped
      EXPECT_EQ(rewritten[0]["image"], "good0.png");
      EXPECT_EQ(rewritten[1]["image"], "good1.png");
    }
  }
}

TEST(EmbedCli, MalformedJsonAndProfilesFailInEitherMode) {
  for (const std::string mode : {"fail", "skip"}) {
    Album album;
    test::write_text(album.dir / "train.json", "[{\"id\": \"a\", \"image\": \"good0.png\",");
    auto r = test::run_privprobe(data_args(album, mode));
    EXPECT_NE(r.exit_code, 0);
    EXPECT_TRUE(contains(r.output, "train.json")) << r.output;
    EXPECT_TRUE(contains(r.output, "JSON")) << r.output;
    EXPECT_FALSE(fs::exists(album.dir / "out"));

    test::write_text(album.dir / "train.json", "{\"not\": \"a list\"}");
    r = test::run_privprobe(data_args(album, mode));
    EXPECT_NE(r.exit_code, 0);
    EXPECT_TRUE(contains(r.output, "train.json")) << r.output;

    write_data_with(album, "good2.png");
    test::write_text(album.profiles, "{\"username\": \"A B\", \"user_id\": 1234567890, \"gender\": \"Male\", "
                                     "\"age\": 30, \"capture_time\": \"2023-01-01 10:00:00\", "
                                     "\"capture_location\": \"Lima, Peru\"}\n{\"username\": \"C D\"\n");
    r = test::run_privprobe(data_args(album, mode));
    EXPECT_NE(r.exit_code, 0);
    EXPECT_TRUE(contains(r.output, "profiles.jsonl")) << r.output;
    EXPECT_TRUE(contains(r.output, "line 2")) << r.output;
    EXPECT_FALSE(fs::exists(album.dir / "out"));
  }
}

TEST(EmbedCli, PrintsTheRealizedRateAndRefusesAnotherConfig) {
  Album album;
  auto r = test::run_privprobe(album.args("out", "1", "fail"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "watermarked 3 of 3 images: realized rate 1.0000 (requested 1)")) << r.output;
  r = test::run_privprobe(album.args("out", "0.5", "fail"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "--out")) << r.output;
  r = test::run_privprobe({"embed", "--images", album.in.string(), "--rate", "0.5"});
  EXPECT_NE(r.exit_code, 0);
  r = test::run_privprobe({"embed", "--images", album.in.string(), "--profiles", album.profiles.string(), "--rate",
                           "0.5", "--out", (album.dir / "o2").string(), "--style", "sticker"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "sticker")) << r.output;
  r = test::run_privprobe({"embed", "--images", album.in.string(), "--profiles", album.profiles.string(), "--rate",
                           "0.5", "--out", (album.dir / "o3").string(), "--placement", "corner"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "--placement")) << r.output;
  EXPECT_TRUE(contains(r.output, "corner")) << r.output;
  EXPECT_FALSE(fs::exists(album.dir / "o3" / "manifest.jsonl"));
}

// --no-field-names draws each value alone ("Grace" rather than "username: Grace"): a narrower block,
// recorded in embed_config.json.
TEST(EmbedCli, NoFieldNamesDrawsValuesAloneAndRecordsIt) {
  Album album;
  const auto run = [&](const std::string& out, bool names) {
    std::vector<std::string> args = {"embed", "--images", album.in.string(), "--profiles", album.profiles.string(),
                                     "--rate", "1", "--out", (album.dir / out).string(), "--fields", "username",
                                     "--font-size", "8"};
    if (!names) args.push_back("--no-field-names");
    const auto r = test::run_privprobe(args);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return load_manifest(album.dir / out / kManifestFile);
  };
  const auto named = run("named", true), bare = run("bare", false);
  ASSERT_EQ(named.size(), bare.size());
  for (std::size_t i = 0; i < named.size(); ++i) {
    EXPECT_GT(named[i].box.width, bare[i].box.width) << named[i].source;  // "username: " is gone
    EXPECT_EQ(named[i].font_size, bare[i].font_size) << named[i].source;  // both fit at 8 px
  }
  EXPECT_EQ(read_json(album.dir / "bare" / kEmbedConfigFile)["config"]["field_names"], false);
  EXPECT_EQ(read_json(album.dir / "named" / kEmbedConfigFile)["config"]["field_names"], true);
}

// Starts privprobe without waiting for it (output discarded).
pid_t spawn_privprobe(const std::vector<std::string>& args) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, STDOUT_FILENO);
    ::dup2(devnull, STDERR_FILENO);
    std::vector<std::string> copies = args;
    std::string binary = PRIVPROBE_BINARY;
    std::vector<char*> argv = {binary.data()};
    for (auto& a : copies) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::setenv("PRIVPROBE_QUIET", "1", 1);
    ::execv(binary.c_str(), argv.data());
    std::_Exit(127);
  }
  return pid;
}

std::size_t count_lines(const fs::path& path) {
  std::ifstream in(path);
  std::size_t n = 0;
  std::string line;
  while (std::getline(in, line)) ++n;
  return n;
}

TEST(EmbedCli, AKilledRunResumesToTheSameBytes) {
  test::TempDir dir("embed-kill");
  const fs::path in = dir / "in";
  constexpr int kImages = 240;
  for (int i = 0; i < kImages; ++i) {
    const fs::path p = in / ("part" + std::to_string(i % 4)) / ("img" + std::to_string(i));
    if (i % 2 == 0) {
      test::write_jpeg(p.string() + ".jpg", test::noise_image(256, 192, 3, CV_8U, i));
    } else {
      test::write_image(p.string() + ".png", test::noise_image(256, 192, 3, CV_8U, i));
    }
  }
  test::write_profiles_jsonl(dir / "profiles.jsonl", 6);
  auto args_for = [&](const std::string& out) {
    return std::vector<std::string>{"embed", "--images", in.string(), "--profiles", (dir / "profiles.jsonl").string(),
                                    "--rate", "0.7", "--seed", "5", "--jobs", "2", "--out", (dir / out).string()};
  };
  ASSERT_EQ(test::run_privprobe(args_for("whole")).exit_code, 0);

  // Kill the second run with SIGKILL once it has finished some images, but not all.
  const pid_t pid = spawn_privprobe(args_for("resumed"));
  const fs::path journal = dir / "resumed/.embed_journal.jsonl";
  bool exited = false;
  for (int waited_ms = 0; waited_ms < 60000; ++waited_ms) {
    if (count_lines(journal) > 30) break;
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_FALSE(exited) << "the run finished before it could be killed";
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  ASSERT_FALSE(fs::exists(dir / "resumed/manifest.jsonl"));
  ASSERT_LT(count_lines(journal), static_cast<std::size_t>(kImages));
  // A temporary file as a kill between write and rename leaves it.
  test::write_text(dir / ("resumed/images/part0/.img0.jpg" + std::string(kTempMarker) + "999-1"), "partial");

  const auto r = test::run_privprobe(args_for("resumed"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(test::hash_tree(dir / "resumed"), test::hash_tree(dir / "whole"));
  EXPECT_EQ(load_manifest(dir / "resumed/manifest.jsonl").size(), static_cast<std::size_t>(kImages));
  EXPECT_FALSE(fs::exists(journal));
}

}  // namespace
}  // namespace privprobe

namespace privprobe {
namespace {

TEST(EmbedCli, NoVerifyCopiesChecksOnlyHeadersOfCopies) {
  for (const auto& bad : bad_images()) {
    if (!bad.extra_args.empty()) continue;
    SCOPED_TRACE(bad.file);
    Album album;
    test::write_bytes(album.in / bad.file, bad.bytes());
    auto args = album.args("out", "0", "fail");
    args.push_back("--no-verify-copies");
    const auto r = test::run_privprobe(args);
    // Header-level damage is still refused; damage inside the data goes unnoticed in a copy.
    EXPECT_EQ(r.exit_code != 0, bad.caught_by_header) << r.output;
  }
}

}  // namespace
}  // namespace privprobe
