#include <gtest/gtest.h>

#include "support/test_support.h"
#include "util/error.h"
#include "util/json_io.h"

namespace privprobe {
namespace {

TEST(JsonIo, MalformedJsonNamesFile) {
  test::TempDir dir;
  test::write_text(dir / "bad.json", "{\"a\": ");
  try {
    read_json(dir / "bad.json");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos);
  }
}

TEST(JsonIo, JsonlReportsLineNumber) {
  test::TempDir dir;
  test::write_text(dir / "x.jsonl", "{\"a\":1}\n\n{\"a\":2}\n{oops}\n");
  std::vector<std::size_t> lines;
  try {
    for_each_jsonl(dir / "x.jsonl", [&](std::size_t n, const nlohmann::json&) { lines.push_back(n); });
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("line 4"), std::string::npos) << e.what();
  }
  EXPECT_EQ(lines, (std::vector<std::size_t>{1, 3}));
}

TEST(JsonIo, RequireFieldErrors) {
  const auto obj = nlohmann::json::parse(R"({"age": "old", "name": "x"})");
  EXPECT_THROW(require_int(obj, "age", "f, line 1"), DataError);
  EXPECT_THROW(require_string(obj, "missing", "f, line 1"), DataError);
  EXPECT_EQ(require_string(obj, "name", "f"), "x");
}

TEST(JsonIo, WriteThenRead) {
  test::TempDir dir;
  write_json_atomic(dir / "o.json", {{"format_version", kFormatVersion}, {"x", 1}});
  EXPECT_EQ(read_json(dir / "o.json")["x"], 1);
}

}  // namespace
}  // namespace privprobe
