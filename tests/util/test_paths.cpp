#include <gtest/gtest.h>

#include "support/test_support.h"
#include "util/error.h"
#include "util/paths.h"

namespace privprobe {
namespace {

TEST(Paths, ResolveUnderJoinsRelative) {
  EXPECT_EQ(resolve_under("/data", "coco/a.jpg", "row 1"), std::filesystem::path("/data/coco/a.jpg"));
}

TEST(Paths, AbsolutePathIsRefused) {
  try {
    resolve_under("/data", "/etc/passwd", "train.json, sample 3");
    FAIL();
  } catch (const DataError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("train.json, sample 3"), std::string::npos);
    EXPECT_NE(msg.find("absolute"), std::string::npos);
  }
}

TEST(Paths, DotDotIsRefusedEvenWhenItStaysInside) {
  EXPECT_THROW(resolve_under("/data", "../secret.jpg", "x"), DataError);
  EXPECT_THROW(resolve_under("/data", "a/../../b.jpg", "x"), DataError);
  EXPECT_THROW(resolve_under("/data", "a/../b.jpg", "x"), DataError);
  EXPECT_THROW(resolve_under("/data", "", "x"), DataError);
}

TEST(Paths, ListImagesIsSortedRecursiveAndFiltered) {
  test::TempDir dir;
  test::write_text(dir / "b/2.PNG", "x");
  test::write_text(dir / "a/1.jpg", "x");
  test::write_text(dir / "a/notes.txt", "x");
  test::write_text(dir / ".hidden/3.jpg", "x");
  test::write_text(dir / "c.webp", "x");
  const auto files = list_images(dir.path());
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0], "a/1.jpg");
  EXPECT_EQ(files[1], "b/2.PNG");
  EXPECT_EQ(files[2], "c.webp");
}

TEST(Paths, MissingFolderIsIoError) { EXPECT_THROW(list_images("/nonexistent/privprobe"), IoError); }

}  // namespace
}  // namespace privprobe
