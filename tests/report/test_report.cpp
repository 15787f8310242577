// run_report on a fake study folder: every figure drawn, referenced and decodable, the page
// self-contained and byte-identical across runs; missing optional parts said, not failed.
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <set>

#include <opencv2/imgcodecs.hpp>

#include "report/figures.h"
#include "report/report.h"
#include "report/report_fixtures.h"
#include "support/test_support.h"
#include "util/atomic_file.h"
#include "util/rng.h"

namespace privprobe {
namespace {

namespace fs = std::filesystem;
using test::FakeStudyOptions;
using test::TempDir;

ReportResult report(const fs::path& study, const fs::path& out = {}) {
  ReportConfig config;
  config.study = study;
  config.out = out;
  config.progress = false;
  return run_report(config);
}

std::set<std::string> figure_names(const ReportResult& result) {
  std::set<std::string> names;
  for (const fs::path& f : result.figures) names.insert(f.filename().string());
  return names;
}

std::vector<std::string> expected_stems(const FakeStudyOptions& options) {
  std::vector<std::string> stems = {"probe_profile", "probe_image", "difference", "loss_pretrain", "loss_finetune"};
  if (options.dynamics) stems.insert(stems.end(), {"cos_batch_clean", "cos_wm_clean"});
  if (options.acts) {
    for (const std::string& id : test::fake_model_ids(options)) stems.push_back("pca_" + id);
  }
  return stems;
}

TEST(Report, DrawsEveryFigureAsPngAndSvgAndReferencesIt) {
  TempDir dir("report");
  test::write_fake_study(dir.path());
  const ReportResult result = report(dir.path());
  EXPECT_EQ(result.html, dir.path() / "report.html");
  const std::string html = read_file(result.html);
  const std::vector<std::string> stems = expected_stems({});
  EXPECT_EQ(result.figures.size(), 2 * stems.size());
  const std::set<std::string> names = figure_names(result);
  for (const std::string& stem : stems) {
    SCOPED_TRACE(stem);
    const fs::path png = dir.path() / "figures" / (stem + ".png");
    const fs::path svg = dir.path() / "figures" / (stem + ".svg");
    EXPECT_TRUE(names.count(stem + ".png") && names.count(stem + ".svg"));
    const cv::Mat image = cv::imread(png.string(), cv::IMREAD_UNCHANGED);
    ASSERT_FALSE(image.empty());
    EXPECT_GE(image.cols, 600);
    EXPECT_GE(image.rows, 400);
    const std::string svg_text = read_file(svg);
    EXPECT_NE(svg_text.find("<svg"), std::string::npos);
    EXPECT_NE(svg_text.find("</svg>"), std::string::npos);
    EXPECT_NE(html.find("figures/" + stem + ".png"), std::string::npos);
    EXPECT_NE(html.find("figures/" + stem + ".svg"), std::string::npos);
    EXPECT_NE(html.find("id=\"fig-" + stem + "\""), std::string::npos);
  }
  // One embedded PNG per figure plus the two watermarked images.
  std::size_t embedded = 0;
  for (std::size_t at = 0; (at = html.find("src=\"data:image/png;base64,", at)) != std::string::npos; ++at) ++embedded;
  EXPECT_EQ(embedded, stems.size() + 2);
}

TEST(Report, PageIsSelfContained) {
  TempDir dir("report");
  test::write_fake_study(dir.path());
  const std::string html = read_file(report(dir.path()).html);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("<script src"), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
  // Every src is an embedded data URI.
  for (std::size_t at = 0; (at = html.find("src=", at)) != std::string::npos; ++at) {
    EXPECT_EQ(html.compare(at, 16, "src=\"data:image/"), 0) << html.substr(at, 40);
  }
  // Strings from the study folder are escaped.
  EXPECT_NE(html.find("note = &quot;a &lt; b &amp; c&quot;"), std::string::npos);
  EXPECT_NE(html.find("r = 0.5 probes &lt;above&gt; the base &amp; r = 1."), std::string::npos);
  EXPECT_EQ(html.find("<above>"), std::string::npos);
}

TEST(Report, HoldsTheTablesAndVerdicts) {
  TempDir dir("report");
  test::write_fake_study(dir.path());
  const std::string html = read_file(report(dir.path()).html);
  for (const char* text : {"Conclusion: <strong>positive</strong>", "detected. The set-up can detect memorisation",
                           "Perception check of the base model: accuracy 0.930 [0.900, 0.960] at vision layer 3",
                           "<td>r0.5-s0</td><td>r0.5</td><td>0.50 (0.490)</td><td>0.620 [0.570, 0.670] @2</td>",
                           "<th>color</th><th>count</th>", "<td>0.520</td>", "<td>control vs base</td>",
                           "<td>frozen</td>", "data/embed/r0.5/images/img_0.png", "profile u1-001",
                           "confounded by identity", "Dynamics summaries", "identicon"}) {
    EXPECT_NE(html.find(text), std::string::npos) << text;
  }
  // The clean image of the manifest is not shown.
  EXPECT_EQ(html.find("img_2.png"), std::string::npos);
}

TEST(Report, SameStudyGivesSameBytesWhereverItIs) {
  TempDir dir("report");
  test::write_fake_study(dir.path() / "a");
  report(dir.path() / "a", dir.path() / "out1");
  report(dir.path() / "a", dir.path() / "out1");  // a rerun over its own output
  test::write_fake_study(dir.path() / "b");       // the same study elsewhere
  report(dir.path() / "b", dir.path() / "out2");
  const auto first = test::hash_tree(dir.path() / "out1");
  EXPECT_EQ(first.size(), 1 + 2 * expected_stems({}).size());
  EXPECT_EQ(first, test::hash_tree(dir.path() / "out2"));
  // No date or time stamp in the SVGs or the page (its embedded PNGs left out).
  const std::regex stamp("(19|20)[0-9]{2}-[01][0-9]-[0-3][0-9]|[0-2][0-9]:[0-5][0-9]:[0-5][0-9]");
  for (const auto& [name, hash] : first) {
    if (name.size() > 4 && name.substr(name.size() - 4) == ".png") continue;
    std::string text = read_file(dir.path() / "out1" / name);
    for (std::size_t at = 0; (at = text.find("base64,", at)) != std::string::npos;) {
      text.erase(at, text.find('"', at) - at);
    }
    EXPECT_FALSE(std::regex_search(text, stamp)) << name;
  }
}

TEST(Report, LeavesOutMissingPartsAndSaysWhy) {
  TempDir dir("report");
  FakeStudyOptions options;
  options.control = options.ask = options.dynamics = options.acts = options.images = options.toml = false;
  options.train_logs = false;
  test::write_fake_study(dir.path(), options);
  const ReportResult result = report(dir.path());
  const std::set<std::string> names = figure_names(result);
  EXPECT_EQ(names, (std::set<std::string>{"probe_profile.png", "probe_profile.svg", "probe_image.png", "probe_image.svg",
                                          "difference.png", "difference.svg"}));
  const std::string html = read_file(result.html);
  for (const char* text : {"No prompt baseline: no model in results.json has an ask result.",
                           "No training dynamics: no fine-tuned model has a models/&lt;id&gt;/dynamics.jsonl.",
                           "the study has no positive-control arm",
                           "No training log of the base model (models/base/train_log.jsonl)",
                           "No PCA for base: acts/base.safetensors is not in the study folder.",
                           "No watermarked training image", "No study.toml in the study folder."}) {
    EXPECT_NE(html.find(text), std::string::npos) << text;
  }
}

TEST(Report, SaysWhenThePositiveControlWasNotDetected) {
  TempDir dir("report");
  test::write_fake_study(dir.path());
  nlohmann::json results = test::fake_results();
  results["positive_control"]["detected"] = false;
  write_file_atomic(dir.path() / "results.json", results.dump());
  const std::string html = read_file(report(dir.path()).html);
  EXPECT_NE(html.find("NOT detected"), std::string::npos);
  EXPECT_NE(html.find("inconclusive rather than negative"), std::string::npos);
  EXPECT_EQ(html.find("probes missed"), std::string::npos);  // no output-level record: nothing said about it

  // A control whose answers give it away while the probes miss it.
  results["positive_control"]["output_level"] = {{"model", "control-s0"}, {"calibrated_membership", 0.871},
                                                 {"contains_rate", 0.45}, {"revealed", true}};
  write_file_atomic(dir.path() / "results.json", results.dump());
  const std::string revealed = read_file(report(dir.path()).html);
  EXPECT_NE(revealed.find("calibrated membership 0.871"), std::string::npos);
  EXPECT_NE(revealed.find("the probes missed memorisation that the outputs show"), std::string::npos);
}

TEST(ReportPca, SharesOfVarianceAndProjection) {
  // Two informative dimensions (sd 3 and 1) and two constant ones.
  Rng rng(7);
  cv::Mat states = cv::Mat::zeros(400, 4, CV_32F);
  for (int i = 0; i < states.rows; ++i) {
    states.at<float>(i, 0) = static_cast<float>(3 * rng.normal());
    states.at<float>(i, 1) = static_cast<float>(rng.normal());
    states.at<float>(i, 2) = 5.0f;
  }
  const PcaProjection pca = project_pca2(states);
  ASSERT_EQ(pca.points.rows, 400);
  ASSERT_EQ(pca.points.cols, 2);
  EXPECT_NEAR(pca.variance_share[0] + pca.variance_share[1], 1.0, 1e-4);
  EXPECT_NEAR(pca.variance_share[0], 0.9, 0.03);
  // PC1 is the first dimension, centred, with the sign fixed positive.
  cv::Scalar mean, sd;
  cv::meanStdDev(states.col(0), mean, sd);
  for (int i = 0; i < 10; ++i) {
    EXPECT_NEAR(pca.points.at<float>(i, 0), states.at<float>(i, 0) - mean[0], 0.2);  // sampling tilts PC1 slightly
  }
  const PcaProjection again = project_pca2(states);
  EXPECT_EQ(cv::norm(pca.points, again.points, cv::NORM_INF), 0.0);
}

TEST(ReportCli, WritesTheReportAndFailsCleanlyOnAMissingFolder) {
  TempDir dir("report");
  test::write_fake_study(dir.path());
  const test::CommandResult ok = test::run_privprobe({"report", dir.path().string(), "--out", (dir.path() / "out").string()});
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("report.html"), std::string::npos) << ok.output;
  EXPECT_TRUE(fs::is_regular_file(dir.path() / "out/report.html"));
  EXPECT_TRUE(fs::is_regular_file(dir.path() / "out/figures/probe_profile.svg"));

  const test::CommandResult missing = test::run_privprobe({"report", (dir.path() / "nowhere").string()});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.output.find("nowhere"), std::string::npos) << missing.output;
  EXPECT_EQ(std::count(missing.output.begin(), missing.output.end(), '\n'), 1) << missing.output;
}

}  // namespace
}  // namespace privprobe
