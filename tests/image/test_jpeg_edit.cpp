// jpeg_composite: only the overlay's MCU-aligned hull may change, the watermark is really there,
// and the file keeps its markers, tables and coding mode; for every sampling and colour space.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "image/composite.h"
#include "image/image_file.h"
#include "image/jpeg_edit.h"
#include "jpeg_fixtures.h"
#include "util/error.h"

namespace privprobe {
namespace {

using test::JpegKind;
using test::JpegOptions;

// A white overlay at half opacity in diagonal stripes, with transparent gaps: ink everywhere
// in the box, but not on every pixel.
Overlay striped_overlay(int width, int height) {
  Overlay o;
  o.width = width;
  o.height = height;
  o.rgba.assign(static_cast<std::size_t>(width) * height * 4, 255);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) o.pixel(x, y)[3] = ((x / 3 + y / 5) % 2 == 0) ? 128 : 0;
  }
  return o;
}

Overlay solid_overlay(int width, int height, std::uint8_t r, std::uint8_t g, std::uint8_t b, std::uint8_t a) {
  Overlay o;
  o.width = width;
  o.height = height;
  o.rgba.resize(static_cast<std::size_t>(width) * height * 4);
  for (std::size_t p = 0; p < o.rgba.size(); p += 4) {
    o.rgba[p] = r;
    o.rgba[p + 1] = g;
    o.rgba[p + 2] = b;
    o.rgba[p + 3] = a;
  }
  return o;
}

Box clip_box(int x, int y, int w, int h, int width, int height) {
  const int x0 = std::max(x, 0), y0 = std::max(y, 0);
  const int x1 = std::min(x + w, width), y1 = std::min(y + h, height);
  if (x1 <= x0 || y1 <= y0) return {};
  return {x0, y0, x1 - x0, y1 - y0};
}

// Computed here independently of the library: MCU-aligned expansion, clipped to the image.
Box mcu_hull(const Box& b, int mcu_w, int mcu_h, int width, int height) {
  const int x0 = b.x / mcu_w * mcu_w, y0 = b.y / mcu_h * mcu_h;
  const int x1 = std::min((b.x + b.width + mcu_w - 1) / mcu_w * mcu_w, width);
  const int y1 = std::min((b.y + b.height + mcu_h - 1) / mcu_h * mcu_h, height);
  return {x0, y0, x1 - x0, y1 - y0};
}

Box grow(const Box& b, int by, int width, int height) {
  return clip_box(b.x - by, b.y - by, b.width + 2 * by, b.height + 2 * by, width, height);
}

bool inside(const Box& b, int x, int y) { return x >= b.x && x < b.x + b.width && y >= b.y && y < b.y + b.height; }

// Pixels (any channel) that differ between a and b outside `allowed`.
int differences_outside(const cv::Mat& a, const cv::Mat& b, const Box& allowed) {
  EXPECT_EQ(a.size(), b.size());
  EXPECT_EQ(a.type(), b.type());
  int count = 0;
  const int channels = a.channels();
  for (int y = 0; y < a.rows; ++y) {
    for (int x = 0; x < a.cols; ++x) {
      if (inside(allowed, x, y)) continue;
      const std::uint8_t* pa = a.ptr<std::uint8_t>(y) + static_cast<std::size_t>(x) * channels;
      const std::uint8_t* pb = b.ptr<std::uint8_t>(y) + static_cast<std::size_t>(x) * channels;
      if (!std::equal(pa, pa + channels, pb)) ++count;
    }
  }
  return count;
}

double mean_in(const cv::Mat& image, const Box& b) {
  const cv::Scalar m = cv::mean(image(cv::Rect(b.x, b.y, b.width, b.height)));
  double sum = 0;
  for (int c = 0; c < image.channels(); ++c) sum += m[c];
  return sum / image.channels();
}

cv::Mat opencv_decode(const std::vector<std::uint8_t>& bytes) {
  return cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<std::uint8_t*>(bytes.data())),
                      cv::IMREAD_UNCHANGED);
}

struct Case {
  const char* name;
  JpegKind kind;
  bool progressive;
  int mcu_w, mcu_h;
  int restart_rows = 0;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

int channels_for(JpegKind kind) {
  if (kind == JpegKind::kGray) return 1;
  if (kind == JpegKind::kCmyk || kind == JpegKind::kYcck) return 4;
  return 3;
}

class JpegEditCase : public ::testing::TestWithParam<Case> {};

// 203 x 117: neither dimension a multiple of 8 or 16, so the last MCUs are partial.
constexpr int kWidth = 203, kHeight = 117;

TEST_P(JpegEditCase, ChangesOnlyTheHullAndDrawsTheWatermark) {
  const Case c = GetParam();
  JpegOptions options;
  options.kind = c.kind;
  options.progressive = c.progressive;
  options.markers = true;
  options.restart_rows = c.restart_rows;
  const auto source = test::make_jpeg(test::textured_image(kWidth, kHeight, channels_for(c.kind), 7), options);
  const cv::Mat plain_before = test::decode_jpeg_plain(source, false);
  const cv::Mat fancy_before = opencv_decode(source);

  struct Placement {
    int x, y, w, h;
  };
  // Interior; over the top-left edge; over the bottom-right edge (partial MCUs); a box inside
  // the last partial MCU column; the whole image.
  const Placement placements[] = {{37, 21, 70, 40}, {-10, -5, 45, 30},   {kWidth - 30, kHeight - 20, 60, 40},
                                  {197, 3, 6, 9},   {0, 0, kWidth, kHeight}};
  for (const Placement& p : placements) {
    SCOPED_TRACE(std::string(c.name) + " at " + std::to_string(p.x) + "," + std::to_string(p.y));
    const JpegEditResult result = jpeg_composite(source, striped_overlay(p.w, p.h), p.x, p.y, "fixture.jpg");
    const Box touched = clip_box(p.x, p.y, p.w, p.h, kWidth, kHeight);
    const Box hull = mcu_hull(touched, c.mcu_w, c.mcu_h, kWidth, kHeight);
    EXPECT_EQ(result.touched, touched);
    EXPECT_EQ(result.hull, hull);

    // Without smoothing upsampling, every pixel outside the hull decodes identically.
    const cv::Mat plain_after = test::decode_jpeg_plain(result.bytes, false);
    EXPECT_EQ(differences_outside(plain_before, plain_after, hull), 0);
    // With OpenCV's default (fancy) upsampling, at most one more pixel around it differs.
    const cv::Mat fancy_after = opencv_decode(result.bytes);
    EXPECT_EQ(differences_outside(fancy_before, fancy_after, grow(hull, 1, kWidth, kHeight)), 0);

    // The watermark is there: a white overlay brightens the box (CMYK: raises stored values,
    // which are inverted, so brighter as well).
    EXPECT_GT(mean_in(plain_after, touched), mean_in(plain_before, touched) + 10.0);
    EXPECT_GT(mean_in(fancy_after, touched), mean_in(fancy_before, touched) + 10.0);

    // Same coding mode, tables and markers; and a file our strict decoder accepts.
    const ImageHeader header = read_image_header(result.bytes, "out.jpg");
    EXPECT_EQ(header.progressive, c.progressive);
    EXPECT_EQ(header.width, kWidth);
    EXPECT_EQ(header.height, kHeight);
    EXPECT_EQ(header.channels, channels_for(c.kind));
    EXPECT_EQ(test::jpeg_quant_tables(result.bytes), test::jpeg_quant_tables(source));
    EXPECT_EQ(test::jpeg_markers(result.bytes), test::jpeg_markers(source));
    EXPECT_NO_THROW(decode_image(result.bytes, "out.jpg"));
  }
}

TEST_P(JpegEditCase, ReplacesOnlyBlocksTheOverlayInks) {
  const Case c = GetParam();
  JpegOptions options;
  options.kind = c.kind;
  options.progressive = c.progressive;
  const auto source = test::make_jpeg(test::textured_image(kWidth, kHeight, channels_for(c.kind), 11), options);
  // A 64x64 overlay whose only ink is a 4x4 square in its middle.
  Overlay overlay = solid_overlay(64, 64, 255, 255, 255, 0);
  for (int y = 30; y < 34; ++y) {
    for (int x = 30; x < 34; ++x) overlay.pixel(x, y)[3] = 255;
  }
  const JpegEditResult result = jpeg_composite(source, overlay, 40, 24, "fixture.jpg");
  EXPECT_EQ(result.touched, (Box{40, 24, 64, 64}));
  const Box ink_hull = mcu_hull({70, 54, 4, 4}, c.mcu_w, c.mcu_h, kWidth, kHeight);
  EXPECT_EQ(differences_outside(test::decode_jpeg_plain(source, false), test::decode_jpeg_plain(result.bytes, false),
                                ink_hull),
            0);
  EXPECT_NE(result.bytes, source);
}

const Case kCases[] = {
    {"ycc420", JpegKind::kYcc420, false, 16, 16},
    {"ycc422", JpegKind::kYcc422, false, 16, 8},
    {"ycc444", JpegKind::kYcc444, false, 8, 8},
    {"gray", JpegKind::kGray, false, 8, 8},
    {"cmyk", JpegKind::kCmyk, false, 8, 8},
    {"ycck", JpegKind::kYcck, false, 16, 16},
    {"ycc420_progressive", JpegKind::kYcc420, true, 16, 16},
    {"ycc444_progressive", JpegKind::kYcc444, true, 8, 8},
    {"gray_progressive", JpegKind::kGray, true, 8, 8},
    {"cmyk_progressive", JpegKind::kCmyk, true, 8, 8},
    {"ycc420_restarts", JpegKind::kYcc420, false, 16, 16, 1},
};

INSTANTIATE_TEST_SUITE_P(Sources, JpegEditCase, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& param) { return std::string(param.param.name); });

// Colours land in the right channels and the blend is close to the ideal one.
TEST(JpegEdit, SolidColourMatchesIdealComposite) {
  struct Expect {
    JpegKind kind;
    int channels;
    cv::Scalar bgr;  // what OpenCV should decode inside the box (gray: first value)
  };
  const Expect expects[] = {{JpegKind::kYcc444, 3, {0, 0, 255}},
                            {JpegKind::kYcc420, 3, {0, 0, 255}},
                            {JpegKind::kGray, 1, {76, 0, 0}},
                            {JpegKind::kCmyk, 4, {1, 1, 255}}};
  for (const Expect& e : expects) {
    JpegOptions options;
    options.kind = e.kind;
    const auto source = test::make_jpeg(test::textured_image(96, 64, e.channels, 3), options);
    const JpegEditResult result = jpeg_composite(source, solid_overlay(48, 32, 255, 0, 0, 255), 16, 16, "red.jpg");
    const cv::Mat decoded = opencv_decode(result.bytes);
    const cv::Scalar inside = cv::mean(decoded(cv::Rect(20, 20, 40, 24)));
    for (int ch = 0; ch < decoded.channels(); ++ch) {
      EXPECT_NEAR(inside[ch], e.bgr[ch], 6.0) << "kind " << static_cast<int>(e.kind) << " channel " << ch;
    }
  }
}

TEST(JpegEdit, HalfOpacityWhiteIsHalfwayToWhite) {
  JpegOptions options;
  options.kind = JpegKind::kYcc444;
  options.quality = 95;
  const cv::Mat flat(64, 64, CV_8UC3, cv::Scalar(40, 80, 120));
  const auto source = test::make_jpeg(flat, options);
  const JpegEditResult result = jpeg_composite(source, solid_overlay(32, 32, 255, 255, 255, 128), 16, 16, "flat.jpg");
  const cv::Scalar inside = cv::mean(opencv_decode(result.bytes)(cv::Rect(18, 18, 28, 28)));
  const double ideal[3] = {40 + (255 - 40) * 128 / 255.0, 80 + (255 - 80) * 128 / 255.0, 120 + (255 - 120) * 128 / 255.0};
  for (int ch = 0; ch < 3; ++ch) EXPECT_NEAR(inside[ch], ideal[ch], 3.0) << "channel " << ch;
}

TEST(JpegEdit, NoInkOrNoOverlapKeepsTheBytes) {
  const auto source = test::make_jpeg(test::textured_image(64, 48, 3, 5), {});
  const JpegEditResult transparent = jpeg_composite(source, solid_overlay(20, 20, 255, 255, 255, 0), 5, 5, "a.jpg");
  EXPECT_EQ(transparent.bytes, source);
  EXPECT_EQ(transparent.touched, (Box{5, 5, 20, 20}));
  const JpegEditResult outside = jpeg_composite(source, solid_overlay(20, 20, 255, 255, 255, 255), 64, 10, "a.jpg");
  EXPECT_EQ(outside.bytes, source);
  EXPECT_TRUE(outside.touched.empty());
  EXPECT_TRUE(outside.hull.empty());
  const JpegEditResult empty = jpeg_composite(source, Overlay{}, 3, 3, "a.jpg");
  EXPECT_EQ(empty.bytes, source);
}

TEST(JpegEdit, SameInputSameBytes) {
  const auto source = test::make_jpeg(test::textured_image(80, 60, 3, 9), {});
  const Overlay overlay = striped_overlay(30, 20);
  EXPECT_EQ(jpeg_composite(source, overlay, 10, 10, "a.jpg").bytes, jpeg_composite(source, overlay, 10, 10, "a.jpg").bytes);
}

// ---- bad input: every failure is a FormatError naming the file, never a crash or a leak

void expect_format_error(const std::vector<std::uint8_t>& bytes, const std::string& needle,
                         std::int64_t max_pixels = kDefaultMaxPixels) {
  try {
    jpeg_composite(bytes, striped_overlay(10, 10), 2, 2, "dir/bad.jpg", max_pixels);
    ADD_FAILURE() << "no error for " << needle;
  } catch (const FormatError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("dir/bad.jpg"), std::string::npos) << what;
    EXPECT_NE(what.find(needle), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

TEST(JpegEditBadInput, TruncatedSources) {
  for (bool progressive : {false, true}) {
    JpegOptions options;
    options.progressive = progressive;
    const auto source = test::make_jpeg(test::textured_image(120, 90, 3, 1), options);
    for (double fraction : {0.3, 0.6, 0.95}) {
      std::vector<std::uint8_t> cut(source.begin(), source.begin() + static_cast<long>(source.size() * fraction));
      expect_format_error(cut, "Premature end of JPEG file");
    }
    expect_format_error({source.begin(), source.begin() + 20}, "corrupt JPEG");
  }
}

TEST(JpegEditBadInput, CorruptEntropyData) {
  auto source = test::make_jpeg(test::textured_image(120, 90, 3, 2), {});
  // A marker in the middle of the scan data: libjpeg would only warn and paint the rest grey.
  const std::size_t middle = source.size() / 2;
  source[middle] = 0xFF;
  source[middle + 1] = 0xD9;
  expect_format_error(source, "corrupt JPEG");
}

TEST(JpegEditBadInput, HundredsOfScans) {
  JpegOptions options;
  options.kind = JpegKind::kYcc444;
  options.many_scans = true;
  expect_format_error(test::make_jpeg(test::textured_image(16, 16, 3, 4), options), "more than 256 scans");
}

TEST(JpegEditBadInput, NotJpegEmptyAndTooLarge) {
  expect_format_error({}, "empty file");
  expect_format_error({0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0}, "Not a JPEG file");
  const std::string text = "just some text\n";
  expect_format_error({text.begin(), text.end()}, "Not a JPEG file");
  const auto source = test::make_jpeg(test::textured_image(120, 90, 3, 3), {});
  expect_format_error(source, "exceeds the limit", 120 * 90 - 1);
  EXPECT_NO_THROW(jpeg_composite(source, striped_overlay(10, 10), 2, 2, "ok.jpg", 120 * 90));
}

}  // namespace
}  // namespace privprobe

namespace privprobe {
namespace {

// Inside the hull the result is as faithful as a full decode-composite-encode at the source's
// quality would be; outside it is exact (tested above), where a full re-encode is not.
TEST(JpegEdit, HullAsFaithfulAsAFullReencode) {
  for (JpegKind kind : {JpegKind::kYcc420, JpegKind::kYcc444, JpegKind::kGray}) {
    JpegOptions options;
    options.kind = kind;
    const int channels = channels_for(kind);
    const auto source = test::make_jpeg(test::textured_image(160, 120, channels, 21), options);
    const Overlay overlay = striped_overlay(90, 50);
    const JpegEditResult result = jpeg_composite(source, overlay, 33, 41, "f.jpg");
    cv::Mat ideal = opencv_decode(source);
    composite_overlay(ideal, overlay, 33, 41);
    const cv::Mat reencoded = opencv_decode(test::make_jpeg(ideal, options));
    const cv::Rect hull(result.hull.x, result.hull.y, result.hull.width, result.hull.height);
    const double ours = cv::norm(opencv_decode(result.bytes)(hull), ideal(hull), cv::NORM_L1) / (hull.area() * channels);
    const double full = cv::norm(reencoded(hull), ideal(hull), cv::NORM_L1) / (hull.area() * channels);
    EXPECT_LT(ours, full * 1.15 + 0.2) << "kind " << static_cast<int>(kind) << ": " << ours << " vs " << full;
    EXPECT_GT(cv::norm(reencoded, ideal, cv::NORM_L1) - cv::norm(reencoded(hull), ideal(hull), cv::NORM_L1), 0.0);
  }
}

}  // namespace
}  // namespace privprobe
