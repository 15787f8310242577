// How the edit works (all in libjpeg's coefficient domain except one small region):
//   1. read the source's DCT coefficients (entropy decoding only, no IDCT);
//   2. copy the coefficients of the overlay box's MCU-aligned hull into a small JPEG (the block
//      grid lines up, so this is lossless) and decode that to pixels;
//   3. composite the overlay onto those pixels, in the source's colour model;
//   4. compress the hull with the source's quantization tables and sampling factors, read the
//      result's coefficients back;
//   5. replace only the blocks whose pixels the overlay inks (alpha > 0), per component;
//   6. write all coefficients with the source's markers and baseline/progressive mode.
// Blocks that are not replaced keep their exact coefficients, so decoded pixels outside the
// replaced blocks (hence outside the hull) are unchanged.
#include "image/jpeg_edit.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include <opencv2/core.hpp>

#include "image/composite.h"
#include "image/jpeg_support.h"
#include "util/error.h"

namespace privprobe {
namespace {

int ceil_div(long long a, long long b) { return static_cast<int>((a + b - 1) / b); }

// Blocks of a component spanning `pixels` image pixels (libjpeg's width_in_blocks formula).
int blocks_for(int pixels, int samp, int max_samp) {
  return ceil_div(static_cast<long long>(pixels) * samp, static_cast<long long>(max_samp) * DCTSIZE);
}

int round_up(int value, int multiple) { return ceil_div(value, multiple) * multiple; }

// Everything the libjpeg calls touch lives here, in jpeg_composite's frame, declared before the
// setjmp (see jpeg_support.h for why). Members are destroyed in reverse order: codecs before
// the shared error manager.
struct EditState {
  jpeg::JpegErrors errors;
  jpeg::Decoder source{errors};
  jpeg::Encoder crop_encoder{errors};   // hull coefficients -> small JPEG
  jpeg::Decoder crop_decoder{errors};   // small JPEG -> hull pixels
  jpeg::Encoder patch_encoder{errors};  // composited pixels -> small JPEG
  jpeg::Decoder patch_decoder{errors};  // small JPEG -> new coefficients
  jpeg::Encoder output{errors};
  std::vector<std::uint8_t> crop_bytes, patch_bytes;
  cv::Mat pixels;                   // the hull, in the colour model of the source
  std::vector<std::uint8_t> ink;    // per 8x8 pixel cell of the hull: the overlay inks it
  int ink_cols = 0;
  Box hull;
  jvirt_barray_ptr* source_coefs = nullptr;
  jvirt_barray_ptr* patch_coefs = nullptr;
  jvirt_barray_ptr crop_coefs[MAX_COMPONENTS] = {};
};

// Which libjpeg pixel layout the hull is decoded to and encoded from.
J_COLOR_SPACE pixel_space(const jpeg_decompress_struct& info) {
  if (info.num_components == 1) return JCS_GRAYSCALE;
  if (info.num_components == 3) return JCS_EXT_BGR;  // OpenCV order, so composite_overlay applies
  return JCS_CMYK;                                     // CMYK, and YCCK converted by libjpeg
}

void read_source(EditState& s, const std::vector<std::uint8_t>& bytes, const std::filesystem::path& path,
                 std::int64_t max_pixels) {
  jpeg_decompress_struct& info = s.source.info;
  s.source.create();
  jpeg_mem_src(&info, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg::save_all_markers(&info);
  jpeg_read_header(&info, TRUE);
  if (!jpeg::supported_color_space(info.jpeg_color_space, info.num_components)) {
    throw FormatError(error_message(path.string(), "unsupported JPEG colour space (" +
                                                       std::to_string(info.num_components) + " components)"));
  }
  if (static_cast<std::int64_t>(info.image_width) * info.image_height > max_pixels) {
    throw FormatError(error_message(path.string(), "declared size exceeds the limit of " +
                                                       std::to_string(max_pixels) + " pixels"));
  }
  for (int c = 0; c < info.num_components; ++c) {
    const jpeg_component_info& comp = info.comp_info[c];
    if (info.max_h_samp_factor % comp.h_samp_factor != 0 || info.max_v_samp_factor % comp.v_samp_factor != 0) {
      throw FormatError(error_message(path.string(), "unsupported JPEG chroma sampling (non-integral ratio)"));
    }
  }
  s.source_coefs = jpeg_read_coefficients(&info);
}

// Marks the 8x8 cells of the hull holding at least one overlay pixel with alpha > 0.
bool mark_ink(EditState& s, const Overlay& overlay, int x, int y, const Box& touched) {
  s.ink_cols = ceil_div(s.hull.width, DCTSIZE);
  s.ink.assign(static_cast<std::size_t>(s.ink_cols) * ceil_div(s.hull.height, DCTSIZE), 0);
  bool any = false;
  for (int iy = touched.y; iy < touched.y + touched.height; ++iy) {
    const std::uint8_t* px = overlay.pixel(touched.x - x, iy - y);
    std::uint8_t* row = s.ink.data() + static_cast<std::size_t>((iy - s.hull.y) / DCTSIZE) * s.ink_cols;
    for (int ix = touched.x; ix < touched.x + touched.width; ++ix, px += 4) {
      if (px[3] == 0) continue;
      row[(ix - s.hull.x) / DCTSIZE] = 1;
      any = true;
    }
  }
  return any;
}

// Step 2: the hull's coefficients as a small JPEG, decoded to pixels.
void decode_hull(EditState& s) {
  jpeg_decompress_struct& src = s.source.info;
  jpeg_compress_struct& crop = s.crop_encoder.info;
  const Box& r = s.hull;
  s.crop_encoder.create(s.crop_bytes, 0);
  jpeg_copy_critical_parameters(&src, &crop);
  crop.image_width = static_cast<JDIMENSION>(r.width);
  crop.image_height = static_cast<JDIMENSION>(r.height);
  crop.write_JFIF_header = FALSE;
  crop.write_Adobe_marker = FALSE;
  for (int c = 0; c < src.num_components; ++c) {
    const jpeg_component_info& comp = src.comp_info[c];
    const int h = comp.h_samp_factor, v = comp.v_samp_factor;
    const int width = blocks_for(r.width, h, src.max_h_samp_factor);
    const int height = blocks_for(r.height, v, src.max_v_samp_factor);
    s.crop_coefs[c] = (*crop.mem->request_virt_barray)(reinterpret_cast<j_common_ptr>(&crop), JPOOL_IMAGE, TRUE,
                                                        static_cast<JDIMENSION>(round_up(width, h)),
                                                        static_cast<JDIMENSION>(round_up(height, v)),
                                                        static_cast<JDIMENSION>(v));
  }
  (*crop.mem->realize_virt_arrays)(reinterpret_cast<j_common_ptr>(&crop));
  for (int c = 0; c < src.num_components; ++c) {
    const jpeg_component_info& comp = src.comp_info[c];
    const int bx0 = r.x / (DCTSIZE * src.max_h_samp_factor / comp.h_samp_factor);
    const int by0 = r.y / (DCTSIZE * src.max_v_samp_factor / comp.v_samp_factor);
    const int width = blocks_for(r.width, comp.h_samp_factor, src.max_h_samp_factor);
    const int height = blocks_for(r.height, comp.v_samp_factor, src.max_v_samp_factor);
    for (int by = 0; by < height; ++by) {
      JBLOCKROW from = (*src.mem->access_virt_barray)(reinterpret_cast<j_common_ptr>(&src), s.source_coefs[c],
                                                      static_cast<JDIMENSION>(by0 + by), 1, FALSE)[0];
      JBLOCKROW to = (*crop.mem->access_virt_barray)(reinterpret_cast<j_common_ptr>(&crop), s.crop_coefs[c],
                                                     static_cast<JDIMENSION>(by), 1, TRUE)[0];
      std::memcpy(to, from + bx0, sizeof(JBLOCK) * static_cast<std::size_t>(width));
    }
  }
  jpeg_write_coefficients(&crop, s.crop_coefs);
  jpeg_finish_compress(&crop);

  jpeg_decompress_struct& dec = s.crop_decoder.info;
  s.crop_decoder.create();
  jpeg_mem_src(&dec, s.crop_bytes.data(), static_cast<unsigned long>(s.crop_bytes.size()));
  jpeg_read_header(&dec, TRUE);
  dec.jpeg_color_space = src.jpeg_color_space;  // the small JPEG carries no JFIF/Adobe marker
  dec.out_color_space = pixel_space(src);
  // Replicated chroma: the encoder's 2x2 averaging then gives back the stored chroma samples of
  // unpainted pixels almost exactly (smoothing would blur them), and no context from outside
  // the hull is needed.
  dec.do_fancy_upsampling = FALSE;
  jpeg_start_decompress(&dec);
  s.pixels.create(r.height, r.width, CV_8UC(dec.output_components));
  while (dec.output_scanline < dec.output_height) {
    JSAMPROW row = s.pixels.ptr<std::uint8_t>(static_cast<int>(dec.output_scanline));
    jpeg_read_scanlines(&dec, &row, 1);
  }
  jpeg_finish_decompress(&dec);
}

// Step 3 for CMYK sources: the overlay's colour converted to ink amounts, blended per channel.
// Adobe files store CMYK inverted (255 = no ink); libjpeg reports whether the marker was seen.
void composite_cmyk(cv::Mat& cmyk, const Overlay& overlay, int x, int y, bool inverted) {
  const int x0 = std::max(x, 0), y0 = std::max(y, 0);
  const int x1 = std::min(x + overlay.width, cmyk.cols), y1 = std::min(y + overlay.height, cmyk.rows);
  for (int iy = y0; iy < y1; ++iy) {
    std::uint8_t* px = cmyk.ptr<std::uint8_t>(iy) + static_cast<std::size_t>(x0) * 4;
    const std::uint8_t* o = overlay.pixel(x0 - x, iy - y);
    for (int ix = x0; ix < x1; ++ix, px += 4, o += 4) {
      const int a = o[3];
      if (a == 0) continue;
      const double r = o[0] / 255.0, g = o[1] / 255.0, b = o[2] / 255.0;
      const double k = 1.0 - std::max({r, g, b});
      const double inks[4] = {k >= 1.0 ? 0.0 : (1.0 - r - k) / (1.0 - k), k >= 1.0 ? 0.0 : (1.0 - g - k) / (1.0 - k),
                              k >= 1.0 ? 0.0 : (1.0 - b - k) / (1.0 - k), k};
      for (int c = 0; c < 4; ++c) {
        const int ink = static_cast<int>(std::lround(inks[c] * 255.0));
        const int stored = inverted ? 255 - ink : ink;
        px[c] = static_cast<std::uint8_t>((stored * a + px[c] * (255 - a) + 127) / 255);
      }
    }
  }
}

// Step 4: the composited hull compressed like the source, and its coefficients read back.
void encode_patch(EditState& s) {
  jpeg_decompress_struct& src = s.source.info;
  jpeg_compress_struct& enc = s.patch_encoder.info;
  s.patch_encoder.create(s.patch_bytes, s.crop_bytes.size() * 2);
  jpeg_copy_critical_parameters(&src, &enc);  // quantization tables, sampling, colour space
  enc.image_width = static_cast<JDIMENSION>(s.hull.width);
  enc.image_height = static_cast<JDIMENSION>(s.hull.height);
  enc.input_components = s.pixels.channels();
  enc.in_color_space = pixel_space(src);
  enc.write_JFIF_header = FALSE;
  enc.write_Adobe_marker = FALSE;
  jpeg_start_compress(&enc, TRUE);
  while (enc.next_scanline < enc.image_height) {
    JSAMPROW row = s.pixels.ptr<std::uint8_t>(static_cast<int>(enc.next_scanline));
    jpeg_write_scanlines(&enc, &row, 1);
  }
  jpeg_finish_compress(&enc);

  jpeg_decompress_struct& dec = s.patch_decoder.info;
  s.patch_decoder.create();
  jpeg_mem_src(&dec, s.patch_bytes.data(), static_cast<unsigned long>(s.patch_bytes.size()));
  jpeg_read_header(&dec, TRUE);
  dec.jpeg_color_space = src.jpeg_color_space;
  s.patch_coefs = jpeg_read_coefficients(&dec);
}

// Step 5: copies the patch's blocks into the source wherever the block's pixels are inked.
void splice_inked_blocks(EditState& s) {
  jpeg_decompress_struct& src = s.source.info;
  jpeg_decompress_struct& patch = s.patch_decoder.info;
  for (int c = 0; c < src.num_components; ++c) {
    const jpeg_component_info& comp = src.comp_info[c];
    const int cells_x = src.max_h_samp_factor / comp.h_samp_factor;  // 8x8 pixel cells per block
    const int cells_y = src.max_v_samp_factor / comp.v_samp_factor;
    const int hull_bx0 = s.hull.x / (DCTSIZE * cells_x), hull_by0 = s.hull.y / (DCTSIZE * cells_y);
    const int hull_bx1 = blocks_for(s.hull.x + s.hull.width, comp.h_samp_factor, src.max_h_samp_factor);
    const int hull_by1 = blocks_for(s.hull.y + s.hull.height, comp.v_samp_factor, src.max_v_samp_factor);
    const int ink_rows = static_cast<int>(s.ink.size()) / s.ink_cols;
    for (int by = hull_by0; by < hull_by1; ++by) {
      JBLOCKROW to = nullptr;
      JBLOCKROW from = nullptr;
      const int cy0 = (by - hull_by0) * cells_y;
      for (int bx = hull_bx0; bx < hull_bx1; ++bx) {
        const int cx0 = (bx - hull_bx0) * cells_x;
        bool inked = false;
        for (int cy = cy0; cy < std::min(cy0 + cells_y, ink_rows) && !inked; ++cy) {
          for (int cx = cx0; cx < std::min(cx0 + cells_x, s.ink_cols) && !inked; ++cx) {
            inked = s.ink[static_cast<std::size_t>(cy) * s.ink_cols + cx] != 0;
          }
        }
        if (!inked) continue;
        if (to == nullptr) {
          to = (*src.mem->access_virt_barray)(reinterpret_cast<j_common_ptr>(&src), s.source_coefs[c],
                                              static_cast<JDIMENSION>(by), 1, TRUE)[0];
          from = (*patch.mem->access_virt_barray)(reinterpret_cast<j_common_ptr>(&patch), s.patch_coefs[c],
                                                  static_cast<JDIMENSION>(by - hull_by0), 1, FALSE)[0];
        }
        std::memcpy(to[bx], from[bx - hull_bx0], sizeof(JBLOCK));
      }
    }
  }
}

// Step 6: all coefficients out, with the source's markers (JFIF, Exif, ICC, Adobe, comments)
// copied verbatim in their order and the source's coding mode.
void write_output(EditState& s, std::vector<std::uint8_t>& out, std::size_t size_hint) {
  jpeg_decompress_struct& src = s.source.info;
  jpeg_compress_struct& dst = s.output.info;
  s.output.create(out, size_hint + size_hint / 8 + 1024);
  jpeg_copy_critical_parameters(&src, &dst);
  dst.write_JFIF_header = FALSE;   // the source's own APP0/APP14 are copied below instead
  dst.write_Adobe_marker = FALSE;
  dst.restart_interval = src.restart_interval;
  dst.arith_code = src.arith_code;
  // Standard Huffman tables: a second statistics pass would cost more than the few bytes it
  // saves. (libjpeg optimizes progressive output regardless.)
  dst.optimize_coding = FALSE;
  if (src.progressive_mode) jpeg_simple_progression(&dst);
  jpeg_write_coefficients(&dst, s.source_coefs);
  for (jpeg_saved_marker_ptr m = src.marker_list; m != nullptr; m = m->next) {
    jpeg_write_marker(&dst, m->marker, m->data, m->data_length);
  }
  jpeg_finish_compress(&dst);
}

void edit(EditState& s, const std::vector<std::uint8_t>& source, const Overlay& overlay, int x, int y,
          const std::filesystem::path& path, std::int64_t max_pixels, JpegEditResult& result) {
  read_source(s, source, path, max_pixels);
  const jpeg_decompress_struct& info = s.source.info;
  const int width = static_cast<int>(info.image_width), height = static_cast<int>(info.image_height);
  const long long x0 = std::max<long long>(x, 0), y0 = std::max<long long>(y, 0);
  const long long x1 = std::min<long long>(static_cast<long long>(x) + overlay.width, width);
  const long long y1 = std::min<long long>(static_cast<long long>(y) + overlay.height, height);
  if (x1 <= x0 || y1 <= y0) {
    result.bytes = source;
    return;
  }
  result.touched = {static_cast<int>(x0), static_cast<int>(y0), static_cast<int>(x1 - x0), static_cast<int>(y1 - y0)};
  const int mcu_w = DCTSIZE * info.max_h_samp_factor, mcu_h = DCTSIZE * info.max_v_samp_factor;
  const int hx0 = static_cast<int>(x0) / mcu_w * mcu_w, hy0 = static_cast<int>(y0) / mcu_h * mcu_h;
  const int hx1 = std::min(round_up(static_cast<int>(x1), mcu_w), width);
  const int hy1 = std::min(round_up(static_cast<int>(y1), mcu_h), height);
  s.hull = result.hull = {hx0, hy0, hx1 - hx0, hy1 - hy0};
  if (!mark_ink(s, overlay, x, y, result.touched)) {
    result.bytes = source;  // nothing visible to draw: the file stays byte-identical
    return;
  }
  decode_hull(s);
  if (s.pixels.channels() == 4) {
    composite_cmyk(s.pixels, overlay, x - s.hull.x, y - s.hull.y, info.saw_Adobe_marker != 0);
  } else {
    composite_overlay(s.pixels, overlay, x - s.hull.x, y - s.hull.y);
  }
  encode_patch(s);
  splice_inked_blocks(s);
  write_output(s, result.bytes, source.size());
}

}  // namespace

JpegEditResult jpeg_composite(const std::vector<std::uint8_t>& source, const Overlay& overlay, int x, int y,
                              const std::filesystem::path& path, std::int64_t max_pixels) {
  if (overlay.rgba.size() != static_cast<std::size_t>(overlay.width) * overlay.height * 4) {
    throw DataError(error_message(path.string(), "overlay buffer size does not match its dimensions"));
  }
  if (source.empty()) throw FormatError(error_message(path.string(), "empty file (0 bytes)"));
  EditState state;
  JpegEditResult result;
  if (setjmp(state.errors.jump)) {
    throw FormatError(error_message(path.string(), std::string("truncated or corrupt JPEG: ") + state.errors.message));
  }
  edit(state, source, overlay, x, y, path, max_pixels, result);
  return result;
}

}  // namespace privprobe
