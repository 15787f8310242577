// Bad study folders: each gives one error of the right kind naming the file (and the key or line);
// and the small helpers the report's output depends on.
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <limits>

#include "io/safetensors_writer.h"
#include "report/gnuplot.h"
#include "report/html.h"
#include "report/report.h"
#include "report/report_fixtures.h"
#include "report/study_files.h"
#include "support/test_support.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace privprobe {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::TempDir;

void report(const fs::path& study) {
  ReportConfig config;
  config.study = study;
  config.progress = false;
  run_report(config);
}

// Runs the report and returns the error's message, checking its type.
template <typename ErrorType>
std::string report_error(const fs::path& study) {
  try {
    report(study);
  } catch (const ErrorType& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong error type: " << e.what();
    return {};
  }
  ADD_FAILURE() << "no error";
  return {};
}

// A fake study whose results.json is the default one changed by `mutate`.
void write_study_with(const fs::path& dir, const std::function<void(json&)>& mutate) {
  test::write_fake_study(dir);
  json results = test::fake_results();
  mutate(results);
  write_file_atomic(dir / "results.json", results.dump());
}

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() { had_ ? ::setenv(name_, old_.c_str(), 1) : ::unsetenv(name_); }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

TEST(ReportInputs, MissingStudyFolderOrResultsJson) {
  TempDir dir("report-in");
  EXPECT_NE(report_error<IoError>(dir.path() / "nowhere").find("nowhere"), std::string::npos);
  test::write_fake_study(dir.path());
  fs::remove(dir.path() / "results.json");
  const std::string message = report_error<IoError>(dir.path());
  EXPECT_NE(message.find("results.json"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(dir.path() / "report.html"));
}

TEST(ReportInputs, MalformedResultsJson) {
  TempDir dir("report-in");
  test::write_fake_study(dir.path());
  for (const std::string text : {"{\"format_version\": 1, \"models\": [", "", "[1, 2]", "null"}) {
    SCOPED_TRACE(text);
    test::write_text(dir.path() / "results.json", text);
    const std::string message = report_error<FormatError>(dir.path());
    EXPECT_NE(message.find("results.json"), std::string::npos) << message;
  }
}

TEST(ReportInputs, MissingRequiredKeyIsNamedWithItsPath) {
  struct Case {
    std::function<void(json&)> mutate;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {[](json& r) { r.erase("models"); }, "missing required key 'models'"},
      {[](json& r) { r.erase("comparisons"); }, "missing required key 'comparisons'"},
      {[](json& r) { r.erase("format_version"); }, "missing required key 'format_version'"},
      {[](json& r) { r["models"][1].erase("id"); }, "models[1]: missing required key 'id'"},
      {[](json& r) { r["models"][0].erase("probe"); }, "models[0]: missing required key 'probe'"},
      {[](json& r) { r["models"][1]["probe"]["profile"]["layers"][0].erase("accuracy"); },
       "models[1].probe.profile.layers[0]: missing required key 'accuracy'"},
      {[](json& r) { r["comparisons"][0].erase("layers"); }, "comparisons[0]: missing required key 'layers'"},
      {[](json& r) { r["positive_control"].erase("present"); }, "positive_control: missing required key 'present'"},
      {[](json& r) { r["positive_control"]["output_level"] = {{"revealed", "yes"}}; },
       "positive_control.output_level.revealed: expected true or false, found string"},
      {[](json& r) { r["models"][1]["probe"]["profile"]["layers"][2]["accuracy"] = "high"; },
       "models[1].probe.profile.layers[2].accuracy: expected a number, found string"},
      {[](json& r) { r["models"][1]["probe"]["image"]["best_layer"] = -1; }, "models[1].probe.image.best_layer: -1 is outside"},
      {[](json& r) { r["models"] = json::object(); }, "models: expected an array, found object"},
      {[](json& r) { r["models"] = json::array(); }, "models: lists no model"},
      {[](json& r) { r["models"][2]["id"] = "../../etc"; }, "models[2].id: '../../etc' is not a usable model id"},
      {[](json& r) { r["models"][2]["id"] = "base"; }, "model id 'base' appears twice"},
      {[](json& r) { r["format_version"] = 2; }, "format_version: version 2 is not supported"},
      {[](json& r) { r["models"][0]["eval"]["by_type"]["count"] = true; }, "models[0].eval.by_type.count: expected a number"},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].expected);
    TempDir dir("report-in");
    write_study_with(dir.path(), cases[i].mutate);
    const std::string message = report_error<FormatError>(dir.path());
    EXPECT_NE(message.find((dir.path() / "results.json").string()), std::string::npos) << message;
    EXPECT_NE(message.find(cases[i].expected), std::string::npos) << message;
  }
}

TEST(ReportInputs, MalformedLogsAreNamedWithTheirLine) {
  TempDir dir("report-in");
  test::write_fake_study(dir.path());
  const fs::path log = dir.path() / "models/r1-s0/train_log.jsonl";
  test::write_text(log, "{\"step\": 1, \"loss\": 2.0}\n{\"step\": 2, \"loss\": \"x\"}\n");
  std::string message = report_error<FormatError>(dir.path());
  EXPECT_NE(message.find(log.string() + ", line 2"), std::string::npos) << message;

  test::write_text(log, "{\"step\": 1, \"loss\": 2.0}\n");
  const fs::path dynamics = dir.path() / "models/r0.5-s0/dynamics.jsonl";
  test::write_text(dynamics, "{\"step\": 2, \"whole\": {\"cos_batch_clean\": 0.9}}\n{\"whole\": null}\n");
  message = report_error<FormatError>(dir.path());
  EXPECT_NE(message.find(dynamics.string() + ", line 2"), std::string::npos) << message;
  test::write_text(dynamics, "{\"step\": 2, \"whole\": [1]}\n");
  EXPECT_NE(report_error<FormatError>(dir.path()).find(dynamics.string()), std::string::npos);
  test::write_text(dynamics, "not json\n");
  EXPECT_NE(report_error<FormatError>(dir.path()).find(dynamics.string()), std::string::npos);
}

TEST(ReportInputs, BadActivationFiles) {
  TempDir dir("report-in");
  test::write_fake_study(dir.path());
  const fs::path acts = dir.path() / "acts/r1-s0.safetensors";
  test::write_text(acts, "garbage that is no safetensors file");
  EXPECT_NE(report_error<FormatError>(dir.path()).find(acts.string()), std::string::npos);

  test::write_fake_activations(acts, 8, 2, 4, 1.0f);  // best layer 2 of only 2 entries
  std::string message = report_error<DataError>(dir.path());
  EXPECT_NE(message.find(acts.string()), std::string::npos) << message;
  EXPECT_NE(message.find("layer 2"), std::string::npos) << message;

  std::vector<float> states(8 * 3 * 4, 0.5f);
  std::vector<std::int64_t> labels = {0, 1, 2, 0, 1, 0, 1, 0};
  write_safetensors(acts, {{"states", Dtype::F32, {8, 3, 4}, states.data(), states.size() * 4},
                           {"labels", Dtype::I64, {8}, labels.data(), labels.size() * 8}});
  message = report_error<DataError>(dir.path());
  EXPECT_NE(message.find("labels[2] is 2"), std::string::npos) << message;

  states[(0 * 3 + 2) * 4 + 1] = std::numeric_limits<float>::quiet_NaN();  // sample 0, layer 2 (the best)
  labels[2] = 1;
  write_safetensors(acts, {{"states", Dtype::F32, {8, 3, 4}, states.data(), states.size() * 4},
                           {"labels", Dtype::I64, {8}, labels.data(), labels.size() * 8}});
  EXPECT_NE(report_error<DataError>(dir.path()).find("not finite"), std::string::npos);

  write_safetensors(acts, {{"states", Dtype::F32, {8, 12}, states.data(), states.size() * 4},
                           {"labels", Dtype::I64, {8}, labels.data(), labels.size() * 8}});
  EXPECT_NE(report_error<DataError>(dir.path()).find("expected [N, L+1, D]"), std::string::npos);
}

TEST(ReportInputs, BadManifestsAndImages) {
  TempDir dir("report-in");
  test::write_fake_study(dir.path());
  const fs::path manifest = dir.path() / "data/embed/r0.5/manifest.jsonl";
  const std::string good = read_file(manifest);
  std::string escaping = good;
  escaping.replace(escaping.find("images/img_0.png"), 16, "../../results.json");
  test::write_text(manifest, escaping);
  EXPECT_NE(report_error<DataError>(dir.path()).find("'..'"), std::string::npos);

  test::write_text(manifest, good);
  test::write_text(dir.path() / "data/embed/r0.5/images/img_1.png", "\x89PNG\r\n\x1a\n truncated");
  EXPECT_NE(report_error<FormatError>(dir.path()).find("img_1.png"), std::string::npos);

  test::write_text(manifest, "{\"source\": 1}\n");
  EXPECT_NE(report_error<DataError>(dir.path()).find(manifest.string()), std::string::npos);
}

TEST(ReportInputs, GnuplotMissingOrFailingIsNamed) {
  TempDir dir("report-in");
  test::write_fake_study(dir.path());
  {
    ScopedEnv env("PRIVPROBE_GNUPLOT", "/nonexistent/gnuplot");
    const std::string message = report_error<ConfigError>(dir.path());
    EXPECT_NE(message.find("gnuplot is not installed"), std::string::npos) << message;
  }
  {
    ScopedEnv env("PRIVPROBE_GNUPLOT", "/bin/false");
    const std::string message = report_error<IoError>(dir.path());
    EXPECT_NE(message.find("gnuplot (/bin/false), figure probe_profile: exited with status 1"), std::string::npos)
        << message;
  }
  EXPECT_FALSE(fs::exists(dir.path() / "report.html"));
}

TEST(ReportHelpers, HtmlEscapeAndBase64) {
  EXPECT_EQ(html_escape("<a href=\"x\">'&'</a>\x01\x7f\n"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;\n");
  const auto b64 = [](const std::string& s) {
    return base64_encode(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  };
  EXPECT_EQ(b64(""), "");
  EXPECT_EQ(b64("f"), "Zg==");
  EXPECT_EQ(b64("fo"), "Zm8=");
  EXPECT_EQ(b64("foo"), "Zm9v");
  EXPECT_EQ(b64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(b64(std::string("\xff\xfe\x00", 3)), "//4A");
  EXPECT_EQ(format_number(-0.0001), "0.000");
  EXPECT_EQ(format_number(std::nullopt), "\u2013");
  EXPECT_EQ(format_interval(0.5, 0.4, 0.6), "0.500 [0.400, 0.600]");
  EXPECT_EQ(format_interval(0.5, std::nullopt, 0.6), "0.500");
}

TEST(ReportHelpers, GnuplotQuoteKeepsNamesInert) {
  EXPECT_EQ(gnuplot_quote("r0.5-s0"), "'r0.5-s0'");
  EXPECT_EQ(gnuplot_quote("it's"), "'it''s'");
  EXPECT_EQ(gnuplot_quote("`rm -rf x` @macro\nplot"), "'?rm -rf x? ?macro?plot'");
  EXPECT_EQ(gnuplot_number(0.5), "0.5");
  EXPECT_EQ(gnuplot_number(std::nullopt), "?");
  EXPECT_EQ(gnuplot_number(std::numeric_limits<double>::infinity()), "?");
}

}  // namespace
}  // namespace privprobe
