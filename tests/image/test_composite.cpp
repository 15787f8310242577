// Compositing onto decoded images: the blend against a reference formula for every layout,
// nothing written outside the overlay's ink, clipping at the edges; and the Overlay helpers.
#include <gtest/gtest.h>

#include <cmath>

#include "image/composite.h"
#include "util/error.h"
#include "util/rng.h"

namespace privprobe {
namespace {

Overlay random_overlay(int width, int height, std::uint64_t seed) {
  Rng rng(seed);
  Overlay o;
  o.width = width;
  o.height = height;
  o.rgba.resize(static_cast<std::size_t>(width) * height * 4);
  for (auto& v : o.rgba) v = static_cast<std::uint8_t>(rng.below(256));
  for (int i = 0; i < width * height; i += 3) o.rgba[static_cast<std::size_t>(i) * 4 + 3] = 0;  // transparent pixels
  return o;
}

cv::Mat random_image(int rows, int cols, int type, std::uint64_t seed) {
  cv::Mat m(rows, cols, type);
  cv::RNG rng(seed);
  rng.fill(m, cv::RNG::UNIFORM, 0, CV_MAT_DEPTH(type) == CV_8U ? 256 : 65536);
  return m;
}

// The reference: straight-alpha "over", in doubles, rounded to nearest.
double expected_channel(const std::uint8_t* o, double image_value, int channel, int channels, double full) {
  const double a = o[3] / 255.0, scale = full / 255.0;
  if (channels == 1) return (0.299 * o[0] + 0.587 * o[1] + 0.114 * o[2]) * scale * a + image_value * (1 - a);
  return o[2 - channel] * scale * a + image_value * (1 - a);  // B, G, R from R, G, B
}

template <typename T>
void check_blend(int type, double full) {
  const int channels = CV_MAT_CN(type);
  const cv::Mat before = random_image(20, 30, type, 42);
  cv::Mat image = before.clone();
  const Overlay o = random_overlay(12, 9, 7);
  const Box box = composite_overlay(image, o, 5, 4);
  EXPECT_EQ(box, (Box{5, 4, 12, 9}));
  for (int y = 0; y < image.rows; ++y) {
    for (int x = 0; x < image.cols; ++x) {
      const T* now = image.ptr<T>(y) + static_cast<std::size_t>(x) * channels;
      const T* was = before.ptr<T>(y) + static_cast<std::size_t>(x) * channels;
      const bool in_box = x >= 5 && x < 17 && y >= 4 && y < 13;
      const std::uint8_t* op = in_box ? o.pixel(x - 5, y - 4) : nullptr;
      if (!in_box || op[3] == 0) {
        for (int c = 0; c < channels; ++c) ASSERT_EQ(now[c], was[c]) << "untouched pixel changed at " << x << "," << y;
        continue;
      }
      if (channels == 4) {
        const double a = op[3] / 255.0, ai = was[3] / full;
        const double out_a = a + ai * (1 - a);
        for (int c = 0; c < 3; ++c) {
          const double v = (op[2 - c] * full / 255.0 * a + was[c] * ai * (1 - a)) / out_a;
          ASSERT_NEAR(now[c], v, 0.5 + 1e-9) << x << "," << y << " c" << c;
        }
        ASSERT_NEAR(now[3], out_a * full, 0.5 + 1e-9);
        continue;
      }
      for (int c = 0; c < channels; ++c) {
        // 8-bit gray rounds the overlay's luma to a level first: allow that half level.
        const double tolerance = (channels == 1 && full == 255.0) ? 1.0 : 0.5 + 1e-9;
        ASSERT_NEAR(now[c], expected_channel(op, was[c], c, channels, full), tolerance) << x << "," << y << " c" << c;
      }
    }
  }
}

TEST(CompositeOverlay, EveryLayoutMatchesTheReference) {
  check_blend<std::uint8_t>(CV_8UC1, 255.0);
  check_blend<std::uint8_t>(CV_8UC3, 255.0);
  check_blend<std::uint8_t>(CV_8UC4, 255.0);
  check_blend<std::uint16_t>(CV_16UC1, 65535.0);
  check_blend<std::uint16_t>(CV_16UC3, 65535.0);
  check_blend<std::uint16_t>(CV_16UC4, 65535.0);
}

TEST(CompositeOverlay, KnownValues) {
  Overlay white;
  white.width = white.height = 1;
  white.rgba = {255, 255, 255, 128};
  cv::Mat bgr(1, 1, CV_8UC3, cv::Scalar(0, 0, 0));
  composite_overlay(bgr, white, 0, 0);
  EXPECT_EQ(bgr.at<cv::Vec3b>(0, 0), cv::Vec3b(128, 128, 128));
  cv::Mat deep(1, 1, CV_16UC1, cv::Scalar(0));
  composite_overlay(deep, white, 0, 0);
  EXPECT_EQ(deep.at<std::uint16_t>(0, 0), 32896);  // 65535 * 128 / 255
  // Transparent image pixel under a half-opaque overlay: alpha rises to the overlay's, colour
  // becomes the overlay's (nothing underneath to mix with).
  cv::Mat bgra(1, 1, CV_8UC4, cv::Scalar(10, 20, 30, 0));
  Overlay red;
  red.width = red.height = 1;
  red.rgba = {255, 0, 0, 128};
  composite_overlay(bgra, red, 0, 0);
  EXPECT_EQ(bgra.at<cv::Vec4b>(0, 0), cv::Vec4b(0, 0, 255, 128));
  // An opaque image pixel stays opaque.
  cv::Mat opaque(1, 1, CV_8UC4, cv::Scalar(0, 0, 0, 255));
  composite_overlay(opaque, white, 0, 0);
  EXPECT_EQ(opaque.at<cv::Vec4b>(0, 0), cv::Vec4b(128, 128, 128, 255));
}

TEST(CompositeOverlay, ClipsAtEdgesAndIgnoresOutside) {
  const Overlay o = random_overlay(10, 10, 3);
  cv::Mat image = random_image(8, 8, CV_8UC3, 1);
  EXPECT_EQ(composite_overlay(image, o, -4, -6), (Box{0, 0, 6, 4}));
  EXPECT_EQ(composite_overlay(image, o, 5, 6), (Box{5, 6, 3, 2}));
  const cv::Mat before = image.clone();
  EXPECT_TRUE(composite_overlay(image, o, 8, 0).empty());
  EXPECT_TRUE(composite_overlay(image, o, -10, 0).empty());
  EXPECT_TRUE(composite_overlay(image, o, 2147483600, 2147483600).empty());
  EXPECT_TRUE(composite_overlay(image, Overlay{}, 0, 0).empty());
  EXPECT_EQ(cv::norm(before, image, cv::NORM_INF), 0.0);
}

TEST(CompositeOverlay, RefusesUnsupportedLayouts) {
  const Overlay o = random_overlay(2, 2, 1);
  cv::Mat floats(4, 4, CV_32FC3);
  EXPECT_THROW(composite_overlay(floats, o, 0, 0), DataError);
  cv::Mat two(4, 4, CV_8UC2);
  EXPECT_THROW(composite_overlay(two, o, 0, 0), DataError);
  Overlay broken = o;
  broken.rgba.pop_back();
  cv::Mat ok(4, 4, CV_8UC3);
  EXPECT_THROW(composite_overlay(ok, broken, 0, 0), DataError);
}

TEST(Overlay, InkBounds) {
  Overlay o;
  o.width = 6;
  o.height = 5;
  o.rgba.assign(6 * 5 * 4, 255);
  for (int y = 0; y < 5; ++y) {
    for (int x = 0; x < 6; ++x) o.pixel(x, y)[3] = 0;
  }
  EXPECT_TRUE(o.ink_bounds().empty());
  o.pixel(1, 3)[3] = 1;
  o.pixel(4, 2)[3] = 200;
  EXPECT_EQ(o.ink_bounds(), (Box{1, 2, 4, 2}));
  EXPECT_TRUE(Overlay{}.ink_bounds().empty());
}

TEST(Overlay, SideBySide) {
  Overlay a = random_overlay(3, 4, 1), b = random_overlay(5, 2, 2);
  const Overlay both = overlay_side_by_side(a, b, 2);
  EXPECT_EQ(both.width, 10);
  EXPECT_EQ(both.height, 4);
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 3; ++x) {
      EXPECT_TRUE(std::equal(a.pixel(x, y), a.pixel(x, y) + 4, both.pixel(x, y)));
    }
    for (int x = 3; x < 5; ++x) EXPECT_EQ(both.pixel(x, y)[3], 0);  // the gap is transparent
    for (int x = 0; x < 5; ++x) {
      if (y < 2) {
        EXPECT_TRUE(std::equal(b.pixel(x, y), b.pixel(x, y) + 4, both.pixel(5 + x, y)));
      } else {
        EXPECT_EQ(both.pixel(5 + x, y)[3], 0);  // below the shorter one: transparent
      }
    }
  }
  EXPECT_EQ(overlay_side_by_side(Overlay{}, b, 4).width, 5);
  EXPECT_EQ(overlay_side_by_side(a, Overlay{}, 4).width, 3);
  EXPECT_THROW(overlay_side_by_side(a, b, -1), ConfigError);
}

}  // namespace
}  // namespace privprobe
