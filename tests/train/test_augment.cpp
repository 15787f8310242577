// Augmentation: reproducible draws, the expanded canvas, and labels that move with the picture.
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "train/augment.h"
#include "train/aux_objects.h"
#include "util/error.h"
#include "util/json_io.h"
#include "support/test_support.h"

namespace privprobe {
namespace {

bool same(const cv::Mat& a, const cv::Mat& b) {
  return a.size() == b.size() && a.type() == b.type() && cv::norm(a, b, cv::NORM_INF) == 0;
}

cv::Mat scene() {
  cv::Mat image(40, 60, CV_8UC3, cv::Scalar(50, 60, 70));
  cv::rectangle(image, cv::Rect(5, 8, 20, 12), cv::Scalar(0, 0, 255), cv::FILLED);
  return image;
}

TEST(Augment, DrawsArePureFunctionsOfSeedStepAndRow) {
  const AugmentParams a = draw_augment(3, 10, 7), b = draw_augment(3, 10, 7);
  EXPECT_EQ(a.angle_degrees, b.angle_degrees);
  EXPECT_EQ(a.flip, b.flip);
  EXPECT_EQ(a.brightness, b.brightness);
  EXPECT_EQ(a.contrast, b.contrast);
  int flips = 0;
  double min_angle = 0, max_angle = 0;
  for (std::size_t row = 0; row < 400; ++row) {
    const AugmentParams p = draw_augment(3, 10, row);
    EXPECT_LE(std::abs(p.angle_degrees), kAugmentMaxDegrees);
    EXPECT_GE(p.brightness, kAugmentMinFactor);
    EXPECT_LE(p.brightness, kAugmentMaxFactor);
    EXPECT_GE(p.contrast, kAugmentMinFactor);
    EXPECT_LE(p.contrast, kAugmentMaxFactor);
    flips += p.flip ? 1 : 0;
    min_angle = std::min(min_angle, p.angle_degrees);
    max_angle = std::max(max_angle, p.angle_degrees);
  }
  EXPECT_GT(flips, 150);
  EXPECT_LT(flips, 250);
  EXPECT_LT(min_angle, -25);
  EXPECT_GT(max_angle, 25);
  EXPECT_NE(draw_augment(3, 11, 7).angle_degrees, a.angle_degrees);
  EXPECT_NE(draw_augment(4, 10, 7).angle_degrees, a.angle_degrees);
}

TEST(Augment, SameParamsSameBytes) {
  const AugmentParams p = draw_augment(1, 2, 3);
  EXPECT_TRUE(same(augment_image(scene(), p), augment_image(scene(), p)));
}

TEST(Augment, RotationExpandsTheCanvas) {
  AugmentParams p;
  p.angle_degrees = 30;
  const cv::Mat out = augment_image(scene(), p);
  // 60x40 rotated by 30 degrees: 60 cos + 40 sin = 71.96, 60 sin + 40 cos = 64.64
  EXPECT_EQ(out.cols, 72);
  EXPECT_EQ(out.rows, 65);
  EXPECT_EQ(out.at<cv::Vec3b>(0, 0), cv::Vec3b(0, 0, 0));  // new corners are black
}

TEST(Augment, IdentityFlipAndColour) {
  const cv::Mat image = scene();
  EXPECT_TRUE(same(augment_image(image, AugmentParams{}), image));
  AugmentParams flip;
  flip.flip = true;
  cv::Mat flipped;
  cv::flip(image, flipped, 1);
  EXPECT_TRUE(same(augment_image(image, flip), flipped));
  AugmentParams bright;
  bright.brightness = 1.2;
  EXPECT_EQ(augment_image(image, bright).at<cv::Vec3b>(0, 0), cv::Vec3b(60, 72, 84));
  AugmentParams flat;
  flat.contrast = 0.8;  // pulls every pixel towards the mean grey level
  const cv::Mat low = augment_image(image, flat);
  EXPECT_LT(cv::norm(low.at<cv::Vec3b>(10, 10)) - cv::norm(low.at<cv::Vec3b>(0, 0)),
            cv::norm(image.at<cv::Vec3b>(10, 10)) - cv::norm(image.at<cv::Vec3b>(0, 0)));
}

TEST(Augment, GrayAndSixteenBitAndAlphaBecomeBgr8) {
  cv::Mat gray(8, 8, CV_16UC1, cv::Scalar(65535));
  cv::Mat out = augment_image(gray, AugmentParams{});
  EXPECT_EQ(out.type(), CV_8UC3);
  EXPECT_EQ(out.at<cv::Vec3b>(1, 1), cv::Vec3b(255, 255, 255));
  cv::Mat bgra(8, 8, CV_8UC4, cv::Scalar(1, 2, 3, 4));
  EXPECT_EQ(augment_image(bgra, AugmentParams{}).at<cv::Vec3b>(0, 0), cv::Vec3b(1, 2, 3));
}

TEST(Augment, LabelsFollowThePicture) {
  cv::Mat image(32, 32, CV_8UC3, cv::Scalar(0, 0, 0));
  cv::rectangle(image, cv::Rect(4, 6, 14, 12), cv::Scalar(255, 255, 255), cv::FILLED);
  cv::Mat labels(32, 32, CV_8UC1, cv::Scalar(0));
  cv::rectangle(labels, cv::Rect(4, 6, 14, 12), cv::Scalar(7), cv::FILLED);
  for (std::size_t row = 0; row < 5; ++row) {
    AugmentParams p = draw_augment(9, 0, row);
    p.brightness = p.contrast = 1;
    const cv::Mat img = augment_image(image, p), lab = augment_labels(labels, p);
    ASSERT_EQ(img.size(), lab.size());
    int agree = 0, total = 0;
    for (int y = 0; y < img.rows; ++y) {
      for (int x = 0; x < img.cols; ++x) {
        const bool bright = img.at<cv::Vec3b>(y, x)[0] > 127, labelled = lab.at<std::uint8_t>(y, x) == 7;
        if (bright || labelled) {
          ++total;
          agree += bright == labelled ? 1 : 0;
        }
      }
    }
    EXPECT_GT(agree, total * 8 / 10) << "row " << row;  // edges differ by interpolation only
  }
  EXPECT_THROW(augment_labels(image, AugmentParams{}), DataError);
}

TEST(AuxObjects, LabelMapsFollowTheSynthGeometry) {
  ObjectsIndex index;
  index.shapes = {"circle", "square", "triangle"};
  index.colors = {"red", "green"};
  EXPECT_EQ(index.num_classes(), 7);
  EXPECT_EQ(index.class_names()[1], "red circle");
  const cv::Mat map = object_label_map(index, {{1, 1, 0, 0, 8, 8}, {0, 0, 10, 10, 10, 10}, {2, 0, 0, 20, 10, 10}}, 32, 32);
  EXPECT_EQ(map.at<std::uint8_t>(0, 0), 1 + 1 * 2 + 1);  // green square fills its box
  EXPECT_EQ(map.at<std::uint8_t>(7, 7), 4);
  EXPECT_EQ(map.at<std::uint8_t>(15, 15), 1);  // red circle: centre inside
  EXPECT_EQ(map.at<std::uint8_t>(10, 10), 0);  //   its box corner outside
  EXPECT_EQ(map.at<std::uint8_t>(29, 5), 1 + 2 * 2);  // triangle: base row
  EXPECT_EQ(map.at<std::uint8_t>(20, 0), 0);          //   top corner outside
  const auto patches = patch_labels(map, 32, 16);
  ASSERT_EQ(patches.size(), 4u);
  EXPECT_EQ(patches[0], 0);  // centre (8, 8): outside the square (0..7) and the circle
  const auto fine = patch_labels(map, 64, 8);  // a label map stretched over a larger input
  ASSERT_EQ(fine.size(), 64u);
  EXPECT_EQ(fine[0], 4);  // centre (4, 4) of 64 -> (2, 2) of 32: the square
}

TEST(AuxObjects, BadFilesAreClearErrors) {
  test::TempDir dir("aux");
  const auto path = dir / "objects.json";
  test::write_text(path, R"({"shapes": ["hexagon"], "colors": ["red"], "images": {}})");
  EXPECT_THROW(load_objects(path), DataError);
  test::write_text(path, R"({"shapes": ["circle"], "colors": ["red"], "images": {"a.png": [{"shape": "circle", "color": "blue", "box": [0, 0, 2, 2]}]}})");
  try {
    load_objects(path);
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("a.png"), std::string::npos) << e.what();
  }
  test::write_text(path, R"({"shapes": ["circle"], "colors": ["red"], "images": {"a.png": [{"shape": "circle", "color": "red", "box": [0, 0, 0, 2]}]}})");
  EXPECT_THROW(load_objects(path), DataError);
  test::write_text(path, "not json");
  EXPECT_THROW(load_objects(path), FormatError);
  test::write_text(path, R"({"shapes": ["circle"], "colors": ["red"], "images": {"a.png": [{"shape": "circle", "color": "red", "box": [1, 2, 3, 4]}]}})");
  const ObjectsIndex ok = load_objects(path);
  ASSERT_NE(ok.find("a.png"), nullptr);
  EXPECT_EQ(ok.find("a.png")->front().h, 4);
  EXPECT_EQ(ok.find("b.png"), nullptr);
}

}  // namespace
}  // namespace privprobe
