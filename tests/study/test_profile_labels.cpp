// The identicon cell labels of the base's perception task: every cell of each U0 picture becomes
// a square object at the right place with the right ink, and train's aux loader reads the file.
#include <gtest/gtest.h>

#include "embed/embed.h"
#include "embed/manifest.h"
#include "image/identicon.h"
#include "profiles/profile.h"
#include "study/profile_labels.h"
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

namespace {

privprobe::WatermarkConfig reading_watermark() {
  privprobe::WatermarkConfig wm;
  wm.style = privprobe::WatermarkStyle::kText;
  wm.fields = {"username"};
  wm.field_names = false;
  wm.font_size = 14;
  wm.placement = privprobe::WatermarkPlacement::kTopLeft;
  return wm;
}

// A manifest row for text drawn as place_watermark draws it on a 128 x 128 image.
privprobe::ManifestRow text_row(const std::string& source, const privprobe::Profile& profile,
                                const privprobe::WatermarkConfig& wm) {
  privprobe::Rng rng(1);
  const privprobe::PlacedWatermark placed = privprobe::place_watermark(profile, wm, 128, 128, rng);
  privprobe::ManifestRow row = manifest_row(source, profile.id, "text", placed.box, 0, placed.clipped);
  row.font_size = placed.font_size;
  return row;
}

}  // namespace

// The reading preset's per-patch character loss: every non-space glyph of each U0 text becomes a
// square object coloured by its character, at its advance cell, and the aux loader reads them.
TEST(CharacterLabels, EveryGlyphOfEachTextIsAnObject) {
  Fixture f;
  const privprobe::WatermarkConfig wm = reading_watermark();
  const auto grace = privprobe::test::test_profile("u0-0001", "Grace Hopper", 1234567890);
  const auto alan = privprobe::test::test_profile("u0-0002", "Alan Turing", 1234567891);
  privprobe::ManifestRow clipped = text_row("images/d.png", alan, wm);
  clipped.clipped = true;
  write_manifest(f.embed, {text_row("images/a.png", grace, wm), manifest_row("images/b.png", "", "", {}, 0),
                           text_row("images/c.png", alan, wm), clipped,
                           manifest_row("images/e.png", "u0-0002", "identicon", {0, 0, 80, 80}, 16)});
  const fs::path out = f.dir / "objects.json";
  const auto counts = privprobe::write_character_objects(f.objects, f.embed, f.profiles, wm, out);
  EXPECT_EQ(counts.images, 2u);                // a and c: b clean, d clipped, e a picture
  EXPECT_EQ(counts.glyphs, 11u + 10u);         // spaces are background
  EXPECT_EQ(counts.characters, 15u);           // G r a c e H o p e A l n T u i g: 15 distinct

  const json written = privprobe::read_json(out);
  const json& colors = written["colors"];
  ASSERT_EQ(colors.size(), 2u + 15u);
  EXPECT_EQ(colors[2], "char:A");  // code point order after the album's own colours
  EXPECT_EQ(colors[16], "char:u");
  const json& a = written["images"]["images/a.png"];
  ASSERT_EQ(a.size(), 1u + 11u);
  EXPECT_EQ(a[0]["shape"], "circle");
  EXPECT_EQ(a[1]["color"], "char:G");
  EXPECT_EQ(a[1]["box"][0], 0);  // top-left placement
  EXPECT_EQ(a[6]["color"], "char:H");  // "Grace" then the space, which has no object
  EXPECT_FALSE(written["images"].contains("images/d.png"));
  EXPECT_FALSE(written["images"].contains("images/e.png"));

  // The label under a glyph cell's centre is its character.
  const privprobe::ObjectsIndex index = privprobe::load_objects(out);
  const cv::Mat map = privprobe::object_label_map(index, *index.find("images/c.png"), 128, 128);
  const auto names = index.class_names();
  const auto cells = privprobe::watermark_glyph_cells(alan, wm, 14, 0, 0, 0);
  for (const auto& cell : cells) {
    if (cell.codepoint == U' ') continue;
    const int x = cell.box.x + cell.box.width / 2, y = cell.box.y + cell.box.height / 2;
    EXPECT_EQ(names[map.at<std::uint8_t>(y, x)], "char:" + std::string(1, static_cast<char>(cell.codepoint)) + " square");
  }
}

TEST(CharacterLabels, BadInputsNameTheFile) {
  Fixture f;
  const privprobe::WatermarkConfig wm = reading_watermark();
  const fs::path out = f.dir / "objects.json";
  const auto write = [&](const privprobe::WatermarkConfig& settings) {
    privprobe::write_character_objects(f.objects, f.embed, f.profiles, settings, out);
  };
  // A profile the file does not hold.
  write_manifest(f.embed, {text_row("images/a.png", privprobe::test::test_profile("u0-0009", "Ada King", 1), wm)});
  std::string message = error_of<privprobe::DataError>([&] { write(wm); });
  EXPECT_NE(message.find("manifest.jsonl"), std::string::npos) << message;
  EXPECT_NE(message.find("u0-0009"), std::string::npos) << message;
  // Settings other than those the text was drawn with: the layout overruns the drawn box.
  write_manifest(f.embed, {text_row("images/a.png", privprobe::test::test_profile("u0-0001", "Grace Hopper", 1), wm)});
  privprobe::WatermarkConfig named = wm;
  named.field_names = true;
  message = error_of<privprobe::DataError>([&] { write(named); });
  EXPECT_NE(message.find("manifest.jsonl"), std::string::npos) << message;
  EXPECT_NE(message.find("images/a.png"), std::string::npos) << message;
  // More characters than byte labels can name: the album's 80 colours leave room for 4 characters.
  json many = privprobe::read_json(f.objects);
  many["colors"] = json::array();
  for (int i = 0; i < 80; ++i) many["colors"].push_back("colour" + std::to_string(i));
  privprobe::write_json_atomic(f.objects, many);
  message = error_of<privprobe::DataError>([&] { write(wm); });
  EXPECT_NE(message.find("u0.jsonl"), std::string::npos) << message;
  EXPECT_NE(message.find("at most 254"), std::string::npos) << message;
  // Not an objects file.
  privprobe::write_json_atomic(f.objects, {{"images", json::object()}});
  message = error_of<privprobe::DataError>([&] { write(wm); });
  EXPECT_NE(message.find("objects.json"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(out));  // nothing half-written
}
