#include <gtest/gtest.h>

#include "data/llava_json.h"
#include "support/test_support.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_io.h"

namespace privprobe {
namespace {

using nlohmann::json;

// A file with everything the format allows: string and integer ids, a text-only sample, unknown
// fields on samples and turns, non-ASCII text.
const char* kRichFile = R"([
  {"id": "a1", "image": "coco/0001.jpg", "source": {"set": "coco", "n": 3},
   "conversations": [{"from": "human", "value": "<image>\nWhat colour is the bus?"},
                     {"from": "gpt", "value": "Red", "weight": 0.5}]},
  {"id": 42, "image": "x/y.png", "conversations": [{"from": "human", "value": "<image>\nQ?"}, {"from": "gpt", "value": "A"}]},
  {"id": "text-only", "conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "Grüße, 東京?"},
                                        {"from": "gpt", "value": "ok"}]}
])";

TEST(LlavaJson, LoadsEveryField) {
  test::TempDir dir;
  test::write_text(dir / "d.json", kRichFile);
  const auto samples = load_llava_json(dir / "d.json");
  ASSERT_EQ(samples.size(), 3u);
  EXPECT_EQ(samples[0].id, "a1");
  ASSERT_TRUE(samples[0].image.has_value());
  EXPECT_EQ(*samples[0].image, "coco/0001.jpg");
  ASSERT_EQ(samples[0].conversations.size(), 2u);
  EXPECT_EQ(samples[0].conversations[0].from, "human");
  EXPECT_EQ(samples[0].conversations[0].value, "<image>\nWhat colour is the bus?");
  EXPECT_EQ(samples[0].conversations[1].extra["weight"], 0.5);
  EXPECT_EQ(samples[0].extra["source"]["n"], 3);
  EXPECT_FALSE(samples[0].extra.contains("id"));
  EXPECT_EQ(samples[1].id, "42");
  EXPECT_FALSE(samples[2].image.has_value());
  EXPECT_EQ(samples[2].conversations[1].value, "Grüße, 東京?");
}

TEST(LlavaJson, RoundTripLosesNothing) {
  test::TempDir dir;
  test::write_text(dir / "d.json", kRichFile);
  write_llava_json(dir / "out.json", load_llava_json(dir / "d.json"));
  EXPECT_EQ(read_json(dir / "out.json"), json::parse(kRichFile));
  // The integer id stays an integer.
  EXPECT_TRUE(read_json(dir / "out.json")[1]["id"].is_number_integer());
  // A second round trip gives the same bytes.
  write_llava_json(dir / "out2.json", load_llava_json(dir / "out.json"));
  EXPECT_EQ(read_file(dir / "out.json"), read_file(dir / "out2.json"));
}

TEST(LlavaJson, ChangedIntegerIdIsWrittenAsTheNewString) {
  test::TempDir dir;
  test::write_text(dir / "d.json", kRichFile);
  auto samples = load_llava_json(dir / "d.json");
  samples[1].id = "renamed";
  samples[2].image = "now/with/image.png";
  samples[0].image.reset();
  EXPECT_EQ(to_json(samples[1])["id"], "renamed");
  EXPECT_EQ(to_json(samples[2])["image"], "now/with/image.png");
  EXPECT_FALSE(to_json(samples[0]).contains("image"));
}

TEST(LlavaJson, MissingIdBecomesTheIndex) {
  test::TempDir dir;
  test::write_text(dir / "d.json", R"([{"id": "x", "conversations": [{"from": "human", "value": "q"}]},
                                      {"conversations": [{"from": "human", "value": "q"}]}])");
  const auto samples = load_llava_json(dir / "d.json");
  EXPECT_EQ(samples[1].id, "1");
}

TEST(LlavaJson, EmptyArrayIsValid) {
  test::TempDir dir;
  test::write_text(dir / "d.json", "[]");
  EXPECT_TRUE(load_llava_json(dir / "d.json").empty());
  write_llava_json(dir / "e.json", {});
  EXPECT_EQ(read_json(dir / "e.json"), json::array());
}

TEST(LlavaJson, DeepNestingIsRefusedNotACrash) {
  // Copying or writing a million nested arrays would recurse a million times.
  test::TempDir dir;
  const std::size_t depth = 1'000'000;
  test::write_text(dir / "deep.json", R"([{"id": "a", "conversations": [{"from": "human", "value": "q"}], "x": )" +
                                          std::string(depth, '[') + std::string(depth, ']') + "}]");
  try {
    load_llava_json(dir / "deep.json");
    FAIL() << "no error";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("nested"), std::string::npos) << e.what();
  }
  // Ordinary nesting in unknown fields is kept.
  test::write_text(dir / "ok.json", R"([{"id": "a", "conversations": [{"from": "human", "value": "q"}], "x": [[[[{"y": [1]}]]]]}])");
  EXPECT_EQ(load_llava_json(dir / "ok.json")[0].extra["x"][0][0][0][0]["y"][0], 1);
}

TEST(LlavaJson, MissingFileIsIoError) {
  test::TempDir dir;
  EXPECT_THROW(load_llava_json(dir / "absent.json"), IoError);
}

// Each malformed document, the error class it must raise and text the message must contain.
struct Malformed {
  const char* name;
  const char* text;
  bool format_error;  // FormatError (the document) rather than DataError (a sample)
  const char* where;  // expected in the message besides the file name
  const char* what;
};

const Malformed kMalformed[] = {
    {"not_json", "[{\"id\": ", true, "", "not valid JSON"},
    {"empty_file", "", true, "", "not valid JSON"},
    {"object_not_array", R"({"id": "a", "conversations": []})", true, "", "array"},
    {"string_not_array", R"("hello")", true, "", "array"},
    {"sample_not_object", R"([{"id": "a", "conversations": [{"from": "human", "value": "q"}]}, 7])", false, "sample 1", "object"},
    {"sample_null", R"([null])", false, "sample 0", "object"},
    {"missing_conversations", R"([{"id": "a", "image": "x.png"}])", false, "sample 0", "conversations"},
    {"conversations_not_array", R"([{"id": "a", "conversations": {"from": "human"}}])", false, "sample 0", "conversations"},
    {"conversations_string", R"([{"id": "a", "conversations": "hi"}])", false, "sample 0", "conversations"},
    {"conversations_empty", R"([{"id": "a", "conversations": []}])", false, "sample 0", "empty"},
    {"turn_not_object", R"([{"id": "a", "conversations": ["hello"]}])", false, "turn 0", "object"},
    {"turn_missing_from", R"([{"id": "a", "conversations": [{"value": "q"}]}])", false, "sample 0, turn 0", "from"},
    {"turn_missing_value", R"([{"id": "a", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt"}]}])", false,
     "sample 0, turn 1", "value"},
    {"turn_from_number", R"([{"id": "a", "conversations": [{"from": 1, "value": "q"}]}])", false, "turn 0", "from"},
    {"turn_value_null", R"([{"id": "a", "conversations": [{"from": "gpt", "value": null}]}])", false, "turn 0", "value"},
    {"turn_value_array", R"([{"id": "a", "conversations": [{"from": "gpt", "value": ["a"]}]}])", false, "turn 0", "value"},
    {"image_number", R"([{"id": "a", "image": 5, "conversations": [{"from": "human", "value": "q"}]}])", false, "sample 0", "image"},
    {"image_null", R"([{"id": "a", "image": null, "conversations": [{"from": "human", "value": "q"}]}])", false, "sample 0", "image"},
    {"image_list", R"([{"id": "a", "image": ["a.png"], "conversations": [{"from": "human", "value": "q"}]}])", false, "sample 0",
     "image"},
    {"id_float", R"([{"id": 1.5, "conversations": [{"from": "human", "value": "q"}]}])", false, "sample 0", "id"},
    {"id_bool", R"([{"id": true, "conversations": [{"from": "human", "value": "q"}]}])", false, "sample 0", "id"},
    {"id_object", R"([{"id": {}, "conversations": [{"from": "human", "value": "q"}]}])", false, "sample 0", "id"},
};

class LlavaJsonMalformed : public ::testing::TestWithParam<Malformed> {};

TEST_P(LlavaJsonMalformed, FailsWithFileAndPlace) {
  const Malformed& m = GetParam();
  test::TempDir dir;
  const std::string file = std::string(m.name) + ".json";
  test::write_text(dir / file, m.text);
  std::string message;
  try {
    load_llava_json(dir / file);
    ADD_FAILURE() << m.name << ": no error";
    return;
  } catch (const FormatError& e) {
    EXPECT_TRUE(m.format_error) << m.name << " raised FormatError: " << e.what();
    message = e.what();
  } catch (const DataError& e) {
    EXPECT_FALSE(m.format_error) << m.name << " raised DataError: " << e.what();
    message = e.what();
  }
  EXPECT_NE(message.find(file), std::string::npos) << message;
  EXPECT_NE(message.find(m.where), std::string::npos) << message;
  EXPECT_NE(message.find(m.what), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

INSTANTIATE_TEST_SUITE_P(AllCases, LlavaJsonMalformed, ::testing::ValuesIn(kMalformed),
                         [](const ::testing::TestParamInfo<Malformed>& param) { return std::string(param.param.name); });

}  // namespace
}  // namespace privprobe
