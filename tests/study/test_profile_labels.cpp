// The identicon cell labels of the base's perception task: every cell of each U0 picture becomes
// a square object at the right place with the right ink, and train's aux loader reads the file.
#include <gtest/gtest.h>

#include "embed/embed.h"
#include "embed/manifest.h"
#include "image/identicon.h"
#include "profiles/profile.h"
#include "study/identicon_labels.h"
#include "support/test_support.h"
#include "test_profiles.h"
#include "train/aux_objects.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_io.h"

namespace fs = std::filesystem;
using nlohmann::json;
using privprobe::test::error_of;
using privprobe::test::TempDir;

namespace {

privprobe::ManifestRow manifest_row(const std::string& source, const std::string& profile, const std::string& style,
                                    privprobe::Box box, int cell, bool clipped = false) {
  privprobe::ManifestRow m;
  m.source = source;
  m.output = "images/" + source;
  m.status = "ok";
  m.profile = profile;
  m.style = style;
  m.box = box;
  m.identicon_cell = cell;
  m.clipped = clipped;
  return m;
}

void write_manifest(const fs::path& folder, const std::vector<privprobe::ManifestRow>& rows) {
  std::string text;
  for (const auto& r : rows) text += privprobe::to_json_line(privprobe::manifest_row_to_json(r)) + "\n";
  privprobe::write_file_atomic(folder / privprobe::kManifestFile, text);
}

void write_two_profiles(const fs::path& file) {
  privprobe::write_profiles(file, {privprobe::test::test_profile("u0-0001", "Grace Hopper", 1234567890),
                                   privprobe::test::test_profile("u0-0002", "Alan Turing", 1234567891)});
}

struct Fixture {
  TempDir dir{"identicon-labels"};
  fs::path objects = dir / "album" / "objects.json";
  fs::path embed = dir / "embed_pretrain";
  fs::path profiles = dir / "u0.jsonl";
  Fixture() {
    privprobe::write_json_atomic(
        objects, {{"format_version", 1},
                  {"shapes", {"circle", "square", "triangle"}},
                  {"colors", {"red", "green"}},
                  {"images", {{"images/a.png", {{{"shape", "circle"}, {"color", "red"}, {"box", {30, 30, 20, 20}}}}},
                              {"images/b.png", json::array()}}}});
    write_two_profiles(profiles);
    fs::create_directories(embed);
  }
};

}  // namespace

TEST(IdenticonLabels, EveryCellOfEachPictureIsAnObject) {
  Fixture f;
  write_manifest(f.embed, {manifest_row("images/a.png", "u0-0001", "identicon", {10, 20, 80, 80}, 16),
                           manifest_row("images/b.png", "", "", {}, 0),
                           manifest_row("images/c.png", "u0-0002", "identicon", {0, 0, 40, 40}, 8),
                           manifest_row("images/d.png", "u0-0002", "identicon", {88, 0, 40, 80}, 16, /*clipped=*/true),
                           manifest_row("images/e.png", "u0-0002", "text", {5, 5, 60, 30}, 0)});
  const fs::path out = f.dir / "objects.json";
  const auto counts = privprobe::write_identicon_objects(f.objects, f.embed, f.profiles, out);
  EXPECT_EQ(counts.images, 2u);  // a and c: b is clean, d clipped, e text
  EXPECT_EQ(counts.cells, 50u);

  const json written = privprobe::read_json(out);
  EXPECT_EQ(written["colors"], json({"red", "green", "identicon_ink", "identicon_blank"}));
  const json& a = written["images"]["images/a.png"];
  ASSERT_EQ(a.size(), 26u);
  EXPECT_EQ(a[0]["shape"], "circle");  // the image's own object first: the cells label the patches on top
  const std::vector<std::uint8_t> pattern = privprobe::identicon_cells("Grace Hopper");
  for (int i = 0; i < 25; ++i) {
    const json& cell = a[static_cast<std::size_t>(i + 1)];
    EXPECT_EQ(cell["shape"], "square");
    EXPECT_EQ(cell["color"], pattern[static_cast<std::size_t>(i)] ? "identicon_ink" : "identicon_blank") << i;
    EXPECT_EQ(cell["box"], json({10 + (i % 5) * 16, 20 + (i / 5) * 16, 16, 16})) << i;
  }
  EXPECT_EQ(written["images"]["images/b.png"], json::array());
  EXPECT_EQ(written["images"]["images/c.png"].size(), 25u);  // a new entry for an image without objects
  EXPECT_FALSE(written["images"].contains("images/d.png"));
  EXPECT_FALSE(written["images"].contains("images/e.png"));

  // train's per-patch loss reads it: the label under a cell's centre is that cell's ink, on top of the circle.
  const privprobe::ObjectsIndex index = privprobe::load_objects(out);
  const cv::Mat map = privprobe::object_label_map(index, *index.find("images/a.png"), 128, 128);
  const auto names = index.class_names();
  for (int i = 0; i < 25; ++i) {
    const int x = 10 + (i % 5) * 16 + 8, y = 20 + (i / 5) * 16 + 8;
    EXPECT_EQ(names[map.at<std::uint8_t>(y, x)],
              pattern[static_cast<std::size_t>(i)] ? "identicon_ink square" : "identicon_blank square")
        << i;
  }
}

TEST(IdenticonLabels, BadInputsNameTheFile) {
  Fixture f;
  const fs::path out = f.dir / "objects.json";
  // A profile the file does not hold.
  write_manifest(f.embed, {manifest_row("images/a.png", "u0-0009", "identicon", {10, 20, 80, 80}, 16)});
  const auto write = [&] { privprobe::write_identicon_objects(f.objects, f.embed, f.profiles, out); };
  std::string message = error_of<privprobe::DataError>(write);
  EXPECT_NE(message.find("manifest.jsonl"), std::string::npos) << message;
  EXPECT_NE(message.find("u0-0009"), std::string::npos) << message;
  // A picture whose box is not whole cells.
  write_manifest(f.embed, {manifest_row("images/a.png", "u0-0001", "identicon", {10, 20, 70, 80}, 16)});
  EXPECT_THROW(write(), privprobe::DataError);
  // An image whose objects are not a list.
  json objects = privprobe::read_json(f.objects);
  objects["images"]["images/a.png"] = json::object();
  privprobe::write_json_atomic(f.objects, objects);
  write_manifest(f.embed, {manifest_row("images/a.png", "u0-0001", "identicon", {10, 20, 80, 80}, 16)});
  message = error_of<privprobe::DataError>(write);
  EXPECT_NE(message.find("objects.json"), std::string::npos) << message;
  EXPECT_NE(message.find("images/a.png"), std::string::npos) << message;
  // Not an objects file.
  privprobe::write_json_atomic(f.objects, {{"images", json::object()}});
  EXPECT_THROW(write(), privprobe::DataError);
  EXPECT_FALSE(fs::exists(out));  // nothing half-written
}
