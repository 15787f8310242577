// Image files: format from the bytes, headers checked before decoding, every bad input refused
// with the file named, and the valid unusual layouts (gray, CMYK, 16-bit, alpha) decoded.
#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

#include <opencv2/imgcodecs.hpp>

#include "image/image_file.h"
#include "jpeg_fixtures.h"
#include "support/test_support.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace privprobe {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes cv_encode(const cv::Mat& image, const std::string& ext, const std::vector<int>& params = {}) {
  Bytes out;
  EXPECT_TRUE(cv::imencode(ext, image, out, params));
  return out;
}

void put_be32(Bytes& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
}

void add_chunk(Bytes& png, const std::string& type, const Bytes& data) {
  put_be32(png, static_cast<std::uint32_t>(data.size()));
  Bytes body(type.begin(), type.end());
  body.insert(body.end(), data.begin(), data.end());
  png.insert(png.end(), body.begin(), body.end());
  put_be32(png, static_cast<std::uint32_t>(crc32(0L, body.data(), static_cast<uInt>(body.size()))));
}

// A hand-made PNG (any colour type and depth OpenCV cannot write, e.g. gray+alpha), whose
// rows are `raw` without filter bytes.
Bytes make_png(std::uint32_t width, std::uint32_t height, int color_type, int depth, const Bytes& raw) {
  Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  Bytes ihdr;
  put_be32(ihdr, width);
  put_be32(ihdr, height);
  ihdr.insert(ihdr.end(), {static_cast<std::uint8_t>(depth), static_cast<std::uint8_t>(color_type), 0, 0, 0});
  add_chunk(png, "IHDR", ihdr);
  Bytes filtered;
  const std::size_t stride = height ? raw.size() / height : 0;
  for (std::uint32_t y = 0; y < height && !raw.empty(); ++y) {
    filtered.push_back(0);
    filtered.insert(filtered.end(), raw.begin() + static_cast<long>(y * stride),
                    raw.begin() + static_cast<long>((y + 1) * stride));
  }
  uLongf size = compressBound(static_cast<uLong>(filtered.size()));
  Bytes idat(size);
  EXPECT_EQ(compress(idat.data(), &size, filtered.data(), static_cast<uLong>(filtered.size())), Z_OK);
  idat.resize(size);
  add_chunk(png, "IDAT", idat);
  add_chunk(png, "IEND", {});
  return png;
}

// Expects decode_image (and so every reader) to refuse `bytes` with a one-line FormatError
// naming the file and containing `needle`.
void expect_refused(const Bytes& bytes, const std::string& needle, std::int64_t max_pixels = kDefaultMaxPixels) {
  try {
    decode_image(bytes, "album/img 1.jpg", max_pixels);
    ADD_FAILURE() << "accepted; expected: " << needle;
  } catch (const FormatError& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("album/img 1.jpg: ", 0), 0u) << what;
    EXPECT_NE(what.find(needle), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

Bytes truncated(const Bytes& b, double fraction) {
  return Bytes(b.begin(), b.begin() + static_cast<long>(b.size() * fraction));
}

// ---- headers and format detection

TEST(ImageHeader, EachFormatFromItsBytes) {
  const cv::Mat bgr = test::textured_image(37, 23, 3, 1);
  struct Expect {
    Bytes bytes;
    ImageFormat format;
    int channels;
    bool lossless;
  };
  const Expect expects[] = {
      {test::make_jpeg(bgr, {}), ImageFormat::kJpeg, 3, false},
      {cv_encode(bgr, ".png"), ImageFormat::kPng, 3, true},
      {cv_encode(bgr, ".bmp"), ImageFormat::kBmp, 3, true},
      {cv_encode(bgr, ".webp", {cv::IMWRITE_WEBP_QUALITY, 101}), ImageFormat::kWebp, 3, true},
      {cv_encode(bgr, ".webp", {cv::IMWRITE_WEBP_QUALITY, 90}), ImageFormat::kWebp, 3, false},
  };
  for (const Expect& e : expects) {
    const ImageHeader h = read_image_header(e.bytes, "named.jpg");  // the name never matters
    EXPECT_EQ(h.format, e.format) << format_name(e.format);
    EXPECT_EQ(h.width, 37);
    EXPECT_EQ(h.height, 23);
    EXPECT_EQ(h.channels, e.channels) << format_name(e.format);
    EXPECT_EQ(h.lossless, e.lossless) << format_name(e.format);
    EXPECT_EQ(h.bit_depth, 8);
    EXPECT_FALSE(h.progressive);
    ImageHeader from_decode;
    const cv::Mat decoded = decode_image(e.bytes, "named.jpg", kDefaultMaxPixels, &from_decode);
    EXPECT_EQ(decoded.cols, 37);
    EXPECT_EQ(decoded.rows, 23);
    EXPECT_EQ(from_decode.format, e.format);
  }
  EXPECT_STREQ(format_name(ImageFormat::kJpeg), "jpeg");
  EXPECT_STREQ(format_name(ImageFormat::kWebp), "webp");
}

TEST(ImageHeader, JpegDetails) {
  test::JpegOptions options;
  options.progressive = true;
  const ImageHeader progressive = read_image_header(test::make_jpeg(test::textured_image(20, 10, 3, 2), options), "p.jpg");
  EXPECT_TRUE(progressive.progressive);
  options = {};
  options.kind = test::JpegKind::kGray;
  EXPECT_EQ(read_image_header(test::make_jpeg(test::textured_image(20, 10, 1, 2), options), "g.jpg").channels, 1);
  options.kind = test::JpegKind::kCmyk;
  EXPECT_EQ(read_image_header(test::make_jpeg(test::textured_image(20, 10, 4, 2), options), "c.jpg").channels, 4);
}

TEST(ImageHeader, PngDetails) {
  EXPECT_EQ(read_image_header(cv_encode(cv::Mat(5, 7, CV_16UC3, cv::Scalar(1000, 2000, 3000)), ".png"), "a").bit_depth, 16);
  EXPECT_EQ(read_image_header(cv_encode(cv::Mat(5, 7, CV_8UC4, cv::Scalar::all(9)), ".png"), "a").channels, 4);
  EXPECT_EQ(read_image_header(make_png(3, 2, 4, 8, Bytes(12, 100)), "a").channels, 2);
  EXPECT_EQ(read_image_header(make_png(3, 2, 0, 8, Bytes(6, 100)), "a").channels, 1);
}

// ---- valid but unusual images decode

TEST(DecodeImage, JpegMatchesOpenCvForGrayColourAndCmyk) {
  struct Kind {
    test::JpegKind kind;
    int channels;
  };
  for (const Kind k : {Kind{test::JpegKind::kGray, 1}, Kind{test::JpegKind::kYcc420, 3}, Kind{test::JpegKind::kYcc444, 3},
                       Kind{test::JpegKind::kCmyk, 4}, Kind{test::JpegKind::kYcck, 4}}) {
    test::JpegOptions options;
    options.kind = k.kind;
    const Bytes bytes = test::make_jpeg(test::textured_image(45, 29, k.channels, 3), options);
    const cv::Mat ours = decode_image(bytes, "x.jpg");
    const cv::Mat theirs = cv::imdecode(bytes, cv::IMREAD_UNCHANGED);
    ASSERT_EQ(ours.type(), theirs.type()) << "kind " << static_cast<int>(k.kind);
    EXPECT_EQ(cv::norm(ours, theirs, cv::NORM_INF), 0.0) << "kind " << static_cast<int>(k.kind);
    EXPECT_EQ(ours.channels(), k.channels == 1 ? 1 : 3);  // CMYK comes back as BGR, as OpenCV does
  }
}

TEST(DecodeImage, SixteenBitAlphaAndGrayAlphaPng) {
  cv::Mat deep(6, 9, CV_16UC3);
  cv::randu(deep, 0, 65535);
  const cv::Mat back = decode_image(cv_encode(deep, ".png"), "deep.png");
  ASSERT_EQ(back.type(), CV_16UC3);
  EXPECT_EQ(cv::norm(deep, back, cv::NORM_INF), 0.0);

  cv::Mat rgba(6, 9, CV_8UC4);
  cv::randu(rgba, 0, 255);
  const cv::Mat rgba_back = decode_image(cv_encode(rgba, ".png"), "alpha.png");
  ASSERT_EQ(rgba_back.type(), CV_8UC4);
  EXPECT_EQ(cv::norm(rgba, rgba_back, cv::NORM_INF), 0.0);

  // gray 10 with alpha 200, 3x2: OpenCV expands gray+alpha to BGRA.
  Bytes raw;
  for (int i = 0; i < 6; ++i) raw.insert(raw.end(), {10, 200});
  const cv::Mat ga = decode_image(make_png(3, 2, 4, 8, raw), "ga.png");
  ASSERT_EQ(ga.type(), CV_8UC4);
  EXPECT_EQ(ga.at<cv::Vec4b>(1, 2), cv::Vec4b(10, 10, 10, 200));

  const cv::Mat gray = decode_image(make_png(3, 2, 0, 8, Bytes(6, 77)), "g.png");
  ASSERT_EQ(gray.type(), CV_8UC1);
  EXPECT_EQ(gray.at<std::uint8_t>(1, 1), 77);
}

TEST(DecodeImage, ReadImageFromFileAndMissingFile) {
  test::TempDir dir;
  const cv::Mat bgr = test::textured_image(8, 4, 3, 4);
  write_file_atomic(dir / "really_a_png.jpg", cv_encode(bgr, ".png"));
  const cv::Mat back = read_image(dir / "really_a_png.jpg");
  EXPECT_EQ(cv::norm(bgr, back, cv::NORM_INF), 0.0);
  EXPECT_THROW(read_image(dir / "missing.png"), IoError);
}

// ---- encoding

TEST(EncodeImage, LosslessFormatsRoundTrip) {
  const cv::Mat bgr = test::textured_image(31, 17, 3, 5);
  for (ImageFormat f : {ImageFormat::kPng, ImageFormat::kBmp, ImageFormat::kWebp}) {
    const Bytes bytes = encode_image(bgr, f, "out");
    const ImageHeader h = read_image_header(bytes, "out");
    EXPECT_EQ(h.format, f);
    EXPECT_TRUE(h.lossless);
    EXPECT_EQ(cv::norm(bgr, decode_image(bytes, "out"), cv::NORM_INF), 0.0) << format_name(f);
  }
  cv::Mat deep(4, 4, CV_16UC1, cv::Scalar(40000));
  EXPECT_EQ(cv::norm(deep, decode_image(encode_image(deep, ImageFormat::kPng, "d.png"), "d.png"), cv::NORM_INF), 0.0);
}

TEST(EncodeImage, LossyAndRefusals) {
  const cv::Mat bgr = test::textured_image(31, 17, 3, 6);
  EXPECT_FALSE(read_image_header(encode_image(bgr, ImageFormat::kWebp, "o", false), "o").lossless);
  const Bytes jpeg = encode_image(bgr, ImageFormat::kJpeg, "o", true, 80);
  EXPECT_EQ(read_image_header(jpeg, "o").format, ImageFormat::kJpeg);
  // 16-bit pixels would be silently cut to 8 bits by every encoder but PNG's.
  EXPECT_THROW(encode_image(cv::Mat(4, 4, CV_16UC3), ImageFormat::kBmp, "o.bmp"), FormatError);
  EXPECT_THROW(encode_image(cv::Mat(4, 4, CV_16UC3), ImageFormat::kJpeg, "o.jpg"), FormatError);
  EXPECT_THROW(encode_image(cv::Mat(), ImageFormat::kPng, "o.png"), FormatError);
  EXPECT_THROW(encode_image(bgr, ImageFormat::kUnknown, "o"), FormatError);
}

// ---- bad input, each class refused with the file and the reason

TEST(BadImage, ZeroByteFileAndTextNamedJpg) {
  expect_refused({}, "empty file");
  const std::string text = "this is not an image, only text\n";
  expect_refused(Bytes(text.begin(), text.end()), "unknown format");
  test::TempDir dir;
  test::write_text(dir / "empty.jpg", "");
  EXPECT_THROW(read_image(dir / "empty.jpg"), FormatError);
  test::write_text(dir / "notes.jpg", text);
  try {
    read_image(dir / "notes.jpg");
    ADD_FAILURE() << "text accepted";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("notes.jpg"), std::string::npos) << e.what();
  }
}

TEST(BadImage, UnknownFormats) {
  const std::string gif = "GIF89a\x10\x00\x10\x00";
  expect_refused(Bytes(gif.begin(), gif.end()), "unknown format");
  expect_refused({0xFF, 0xD8}, "unknown format");  // two bytes of a JPEG magic are not enough
  const std::string riff = "RIFF\x10\0\0\0WAVEfmt ";
  expect_refused(Bytes(riff.begin(), riff.end()), "unknown format");
}

TEST(BadImage, TruncatedJpeg) {
  for (bool progressive : {false, true}) {
    test::JpegOptions options;
    options.progressive = progressive;
    const Bytes jpeg = test::make_jpeg(test::textured_image(120, 80, 3, 7), options);
    EXPECT_NO_THROW(read_image_header(truncated(jpeg, 0.6), "x"));  // the header is intact...
    expect_refused(truncated(jpeg, 0.6), "Premature end of JPEG file");  // ...the pixels are not
    expect_refused(truncated(jpeg, 0.99), "Premature end of JPEG file");
    expect_refused(truncated(jpeg, 0.05), "corrupt JPEG");
  }
}

TEST(BadImage, TruncatedPngBmpWebp) {
  const cv::Mat bgr = test::textured_image(60, 40, 3, 8);
  const Bytes png = cv_encode(bgr, ".png");
  expect_refused(truncated(png, 0.6), "truncated PNG");
  expect_refused(Bytes(png.begin(), png.end() - 12), "truncated PNG");  // only IEND missing
  expect_refused(truncated(png, 0.002), "truncated PNG header");
  expect_refused(truncated(cv_encode(bgr, ".bmp"), 0.6), "truncated BMP");
  expect_refused(truncated(cv_encode(bgr, ".webp", {cv::IMWRITE_WEBP_QUALITY, 101}), 0.6), "truncated WebP");
  expect_refused(truncated(cv_encode(bgr, ".webp", {cv::IMWRITE_WEBP_QUALITY, 80}), 0.6), "truncated WebP");
}

TEST(BadImage, CorruptBytes) {
  const cv::Mat bgr = test::textured_image(60, 40, 3, 9);
  Bytes png = cv_encode(bgr, ".png");
  png[png.size() / 2] ^= 0x5A;
  expect_refused(png, "bad CRC");
  Bytes header = cv_encode(bgr, ".png");
  header[12] = 'X';  // IHDR renamed
  expect_refused(header, "IHDR");

  Bytes jpeg = test::make_jpeg(bgr, {});
  jpeg[jpeg.size() / 2] = 0xFF;  // a marker inside the entropy-coded data
  jpeg[jpeg.size() / 2 + 1] = 0xD9;
  expect_refused(jpeg, "corrupt JPEG");
  Bytes bad_sof = test::make_jpeg(bgr, {});
  for (std::size_t i = 2; i + 1 < bad_sof.size(); ++i) {
    if (bad_sof[i] == 0xFF && bad_sof[i + 1] == 0xC0) {
      bad_sof[i + 5] = bad_sof[i + 6] = 0;  // height 0
      break;
    }
  }
  expect_refused(bad_sof, "corrupt JPEG");

  Bytes bmp = cv_encode(bgr, ".bmp");
  bmp[28] = 7;  // 7 bits per pixel
  expect_refused(bmp, "bits per pixel");
  // WebP's compressed data has little redundancy to detect damage with (libwebp decodes
  // scrambled data without complaint); its headers are checked.
  Bytes lossy = cv_encode(bgr, ".webp", {cv::IMWRITE_WEBP_QUALITY, 80});
  ASSERT_EQ(std::string(lossy.begin() + 12, lossy.begin() + 16), "VP8 ");
  lossy[23] ^= 0xFF;
  expect_refused(lossy, "bad VP8 start code");
  Bytes lossless = cv_encode(bgr, ".webp", {cv::IMWRITE_WEBP_QUALITY, 101});
  ASSERT_EQ(std::string(lossless.begin() + 12, lossless.begin() + 16), "VP8L");
  lossless[20] = 0x00;
  expect_refused(lossless, "bad VP8L signature");
}

TEST(BadImage, ProgressiveJpegWithHundredsOfScans) {
  test::JpegOptions options;
  options.kind = test::JpegKind::kYcc444;
  options.many_scans = true;
  const Bytes bytes = test::make_jpeg(test::textured_image(16, 16, 3, 4), options);
  EXPECT_TRUE(read_image_header(bytes, "x").progressive);
  expect_refused(bytes, "more than 256 scans");
}

TEST(BadImage, DeclaredDimensionsOverTheLimitAreRefusedFromTheHeader) {
  // A PNG of under 100 bytes that claims 20000 x 20000 (400 megapixels): refused before any decoding.
  const Bytes huge_png = make_png(20000, 20000, 2, 8, {});
  ASSERT_LT(huge_png.size(), 100u);
  try {
    read_image_header(huge_png, "huge.png");
    ADD_FAILURE() << "accepted";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("20000x20000 exceeds the limit of 100000000 pixels"), std::string::npos)
        << e.what();
  }
  expect_refused(huge_png, "exceeds the limit");

  Bytes huge_jpeg = test::make_jpeg(test::textured_image(16, 16, 3, 1), {});
  for (std::size_t i = 2; i + 8 < huge_jpeg.size(); ++i) {
    if (huge_jpeg[i] == 0xFF && huge_jpeg[i + 1] == 0xC0) {
      huge_jpeg[i + 5] = huge_jpeg[i + 7] = 0xFF;  // height and width 0xFF10 = 65296
      break;
    }
  }
  expect_refused(huge_jpeg, "65296x65296 exceeds the limit");

  // The limit is configurable.
  const Bytes small = cv_encode(test::textured_image(30, 20, 3, 2), ".png");
  expect_refused(small, "exceeds the limit of 599 pixels", 599);
  EXPECT_NO_THROW(decode_image(small, "x.png", 600));
  expect_refused(make_png(0, 5, 2, 8, {}), "zero image dimensions");
}

}  // namespace
}  // namespace privprobe
