// The report in a real browser: headless Chromium loads report.html from disk (no network), the
// page's own check counts the images and inline SVGs that rendered, and the test reads that count
// from the dumped DOM. Skipped only when Chromium is not installed (scripts/setup.sh --tests
// installs it).
#include <gtest/gtest.h>

#include <utility>

#include "report/report.h"
#include "report/report_fixtures.h"
#include "support/test_support.h"
#include "text/subprocess.h"
#include "util/atomic_file.h"

namespace privprobe {
namespace {

namespace fs = std::filesystem;

fs::path find_chromium() {
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    const fs::path found = find_program(name);
    if (!found.empty()) return found;
  }
  return {};
}

// The page's "rendered/total" count from the dumped DOM (a plain search: the DOM is megabytes).
std::pair<int, int> render_count(const std::string& dom) {
  const std::string key = "data-figures-ok=\"";
  const std::size_t at = dom.find(key);
  if (at == std::string::npos) return {-1, -1};
  const std::size_t slash = dom.find('/', at);
  const std::size_t end = dom.find('"', at + key.size());
  if (slash == std::string::npos || end == std::string::npos || slash > end) return {-1, -1};
  return {std::stoi(dom.substr(at + key.size(), slash - at - key.size())), std::stoi(dom.substr(slash + 1, end - slash - 1))};
}

// The DOM after load, or empty with the browser's output in `log` when it failed.
std::string dump_dom(const fs::path& chromium, const fs::path& page, const fs::path& work, std::string& log) {
  ProcessSpec spec;
  // timeout: a hung browser must not hang the suite. --no-sandbox: CI containers run as root.
  spec.argv = {"timeout", "-k", "10", "120", chromium.string(), "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
               "--user-data-dir=" + (work / "profile").string(), "--virtual-time-budget=10000", "--dump-dom",
               "file://" + fs::absolute(page).string()};
  spec.stdout_file = work / "dom.html";
  spec.stderr_file = work / "chromium.log";
  const int status = run_process(spec);
  log = "exit status " + std::to_string(status) + "\n" + read_file(work / "chromium.log");
  return status == 0 ? read_file(work / "dom.html") : std::string();
}

TEST(ReportBrowser, EveryFigureRendersInHeadlessChromium) {
  const fs::path chromium = find_chromium();
  if (chromium.empty()) GTEST_SKIP() << "chromium is not installed (apt-get install chromium)";
  test::TempDir dir("report-browser");
  test::write_fake_study(dir.path() / "study");
  ReportConfig config;
  config.study = dir.path() / "study";
  config.progress = false;
  const ReportResult result = run_report(config);

  std::string log;
  const std::string dom = dump_dom(chromium, result.html, dir.path(), log);
  ASSERT_FALSE(dom.empty()) << log;
  const auto [rendered, total] = render_count(dom);
  ASSERT_GE(total, 0) << "the page's render check did not run\n" << log;
  const int expected = static_cast<int>(result.figures.size() / 2) + 2;  // every figure's PNG + 2 watermarked images
  EXPECT_EQ(total, expected);
  EXPECT_EQ(rendered, total) << "some images did not render";
}

TEST(ReportBrowser, TheCheckNoticesABrokenImage) {
  const fs::path chromium = find_chromium();
  if (chromium.empty()) GTEST_SKIP() << "chromium is not installed (apt-get install chromium)";
  test::TempDir dir("report-browser");
  test::write_fake_study(dir.path() / "study");
  ReportConfig config;
  config.study = dir.path() / "study";
  config.progress = false;
  const ReportResult result = run_report(config);
  // Corrupt the first embedded PNG: the page's check must count it as not rendered.
  std::string html = read_file(result.html);
  const std::string marker = "data:image/png;base64,";
  const std::size_t at = html.find(marker);
  ASSERT_NE(at, std::string::npos);
  html.replace(at + marker.size(), 40, std::string(40, 'A'));
  write_file_atomic(result.html, html);

  std::string log;
  const std::string dom = dump_dom(chromium, result.html, dir.path(), log);
  ASSERT_FALSE(dom.empty()) << log;
  const auto [rendered, total] = render_count(dom);
  ASSERT_GE(total, 0) << "the page's render check did not run\n" << log;
  EXPECT_EQ(rendered + 1, total);
}

}  // namespace
}  // namespace privprobe
