// Manifest rows and the resume journal: round trips, typed errors with file and line, and a
// journal cut short by a kill.
#include <gtest/gtest.h>

#include <fstream>

#include "embed/manifest.h"
#include "support/test_support.h"
#include "util/error.h"
#include "util/json_io.h"

namespace privprobe {
namespace {

ManifestRow watermarked_row() {
  ManifestRow row;
  row.source = "coco/a.jpg";
  row.source_sha256 = std::string(64, 'a');
  row.output = "images/coco/a.jpg";
  row.profile = "3";
  row.box = Box{10, 20, 120, 80};
  row.font_size = 12;
  row.clipped = false;
  row.lossless = true;
  row.status = "ok";
  row.style = "text";
  return row;
}

void expect_same(const ManifestRow& a, const ManifestRow& b) {
  EXPECT_EQ(a.source, b.source);
  EXPECT_EQ(a.source_sha256, b.source_sha256);
  EXPECT_EQ(a.output, b.output);
  EXPECT_EQ(a.profile, b.profile);
  EXPECT_EQ(a.box, b.box);
  EXPECT_EQ(a.font_size, b.font_size);
  EXPECT_EQ(a.identicon_cell, b.identicon_cell);
  EXPECT_EQ(a.clipped, b.clipped);
  EXPECT_EQ(a.lossless, b.lossless);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.error, b.error);
  EXPECT_EQ(a.style, b.style);
}

TEST(Manifest, RowRoundTrips) {
  const ManifestRow row = watermarked_row();
  const auto j = manifest_row_to_json(row);
  EXPECT_EQ(j["box"], nlohmann::json::array({10, 20, 120, 80}));
  EXPECT_TRUE(j["error"].is_null());
  expect_same(manifest_row_from_json(j, "t"), row);
}

TEST(Manifest, UnmarkedAndSkippedRowsUseNulls) {
  ManifestRow copy;
  copy.source = "b.png";
  copy.source_sha256 = std::string(64, 'b');
  copy.output = "images/b.png";
  copy.status = "ok";
  auto j = manifest_row_to_json(copy);
  EXPECT_TRUE(j["profile"].is_null());
  EXPECT_TRUE(j["box"].is_null());
  EXPECT_TRUE(j["font_size"].is_null());
  EXPECT_TRUE(j["style"].is_null());
  expect_same(manifest_row_from_json(j, "t"), copy);

  ManifestRow skipped;
  skipped.source = "c.jpg";
  skipped.status = "skipped";
  skipped.error = "c.jpg: truncated";
  j = manifest_row_to_json(skipped);
  EXPECT_TRUE(j["output"].is_null());
  EXPECT_TRUE(j["source_sha256"].is_null());
  EXPECT_EQ(j["error"], "c.jpg: truncated");
  expect_same(manifest_row_from_json(j, "t"), skipped);
}

TEST(Manifest, BadRowsNameFileAndLine) {
  test::TempDir dir("manifest");
  const auto good = to_json_line(manifest_row_to_json(watermarked_row()));
  auto bad = manifest_row_to_json(watermarked_row());
  bad["box"] = {1, 2, 3};
  test::write_text(dir / "m.jsonl", good + "\n" + to_json_line(bad) + "\n");
  try {
    load_manifest(dir / "m.jsonl");
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("m.jsonl, line 2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("box"), std::string::npos);
  }
  bad = manifest_row_to_json(watermarked_row());
  bad["status"] = "done";
  test::write_text(dir / "m.jsonl", to_json_line(bad) + "\n");
  EXPECT_THROW(load_manifest(dir / "m.jsonl"), DataError);
  bad = manifest_row_to_json(watermarked_row());
  bad.erase("clipped");
  test::write_text(dir / "m.jsonl", to_json_line(bad) + "\n");
  EXPECT_THROW(load_manifest(dir / "m.jsonl"), DataError);
  test::write_text(dir / "m.jsonl", good + "\n{not json\n");
  EXPECT_THROW(load_manifest(dir / "m.jsonl"), FormatError);
  EXPECT_THROW(load_manifest(dir / "absent.jsonl"), IoError);
}

TEST(Journal, RecordsTheConfigHashAndRows) {
  test::TempDir dir("journal");
  const auto path = dir / "j.jsonl";
  {
    EmbedJournal journal(path, "abc123");
    journal.append(watermarked_row());
  }
  EXPECT_EQ(read_journal_config_hash(path), "abc123");
  const auto rows = read_journal_rows(path);
  ASSERT_EQ(rows.size(), 1u);
  expect_same(rows.at("coco/a.jpg"), watermarked_row());
  EXPECT_EQ(read_journal_config_hash(dir / "absent.jsonl"), "");
}

TEST(Journal, IgnoresAndRepairsAHalfWrittenLastLine) {
  test::TempDir dir("journal");
  const auto path = dir / "j.jsonl";
  {
    EmbedJournal journal(path, "h");
    journal.append(watermarked_row());
  }
  const std::string line = to_json_line(manifest_row_to_json(watermarked_row()));
  {
    std::ofstream out(path, std::ios::app | std::ios::binary);
    out << line.substr(0, line.size() / 2);  // killed mid-write
  }
  EXPECT_EQ(read_journal_rows(path).size(), 1u);
  // Reopening cuts the fragment, so the next row starts on its own line.
  ManifestRow second = watermarked_row();
  second.source = "coco/b.jpg";
  {
    EmbedJournal journal(path, "h");
    journal.append(second);
  }
  const auto rows = read_journal_rows(path);
  EXPECT_EQ(rows.size(), 2u);
  EXPECT_TRUE(rows.count("coco/b.jpg"));
}

TEST(Journal, ADamagedMiddleLineIsAnError) {
  test::TempDir dir("journal");
  const auto path = dir / "j.jsonl";
  const std::string line = to_json_line(manifest_row_to_json(watermarked_row()));
  test::write_text(path, "{\"config_hash\":\"h\"}\n{broken\n" + line + "\n");
  EXPECT_THROW(read_journal_rows(path), FormatError);
}

}  // namespace
}  // namespace privprobe
