#include <gtest/gtest.h>

#include "support/test_support.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace privprobe {
namespace {

TEST(AtomicFile, WritesAndLeavesNoTemporary) {
  test::TempDir dir;
  write_file_atomic(dir / "sub/out.txt", std::string_view("hello"));
  EXPECT_EQ(read_file(dir / "sub/out.txt"), "hello");
  for (const auto& e : fs::recursive_directory_iterator(dir.path())) {
    EXPECT_EQ(e.path().filename().string().find(kTempMarker), std::string::npos) << e.path();
  }
}

TEST(AtomicFile, UncommittedStreamLeavesFinalNameUntouched) {
  test::TempDir dir;
  write_file_atomic(dir / "out.txt", std::string_view("old"));
  {
    AtomicFile file(dir / "out.txt");
    file.stream() << "new but abandoned";
    EXPECT_TRUE(fs::exists(file.temp_path()));
  }
  EXPECT_EQ(read_file(dir / "out.txt"), "old");
  EXPECT_EQ(remove_stale_temp_files(dir.path()), 0u);
}

TEST(AtomicFile, CommitReplaces) {
  test::TempDir dir;
  AtomicFile file(dir / "out.txt");
  file.stream() << "done";
  file.commit();
  EXPECT_EQ(read_file(dir / "out.txt"), "done");
}

TEST(AtomicFile, StaleTemporariesAreRemoved) {
  test::TempDir dir;
  test::write_text(dir / ("a/.x.jpg" + std::string(kTempMarker) + "123-0"), "partial");
  test::write_text(dir / "a/keep.jpg", "keep");
  EXPECT_EQ(remove_stale_temp_files(dir.path()), 1u);
  EXPECT_TRUE(fs::exists(dir / "a/keep.jpg"));
}

TEST(AtomicFile, ReadMissingFileNamesIt) {
  test::TempDir dir;
  try {
    read_file(dir / "missing.json");
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("missing.json"), std::string::npos);
  }
}

TEST(AtomicFile, WriteIntoUnwritablePlaceIsIoError) {
  test::TempDir dir;
  test::write_text(dir / "file", "x");
  // A path whose parent is a regular file cannot be created.
  EXPECT_THROW(write_file_atomic(dir / "file/child.txt", std::string_view("y")), IoError);
}

}  // namespace
}  // namespace privprobe
