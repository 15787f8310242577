#include "jpeg_fixtures.h"

#include <cmath>
#include <stdexcept>

#include "image/jpeg_support.h"
#include "util/rng.h"

namespace privprobe::test {

cv::Mat textured_image(int width, int height, int channels, std::uint64_t seed) {
  Rng rng(seed);
  cv::Mat image(height, width, CV_8UC(channels));
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      std::uint8_t* px = image.ptr<std::uint8_t>(y) + static_cast<std::size_t>(x) * channels;
      for (int c = 0; c < channels; ++c) {
        const double wave = 60.0 * std::sin((x * (c + 1) + y * (3 - c % 3)) * 0.11);
        const double ramp = 40.0 + 120.0 * (x + y * (c + 1)) / (width + height * (c + 1.0));
        const double noise = rng.uniform(-25.0, 25.0);
        px[c] = static_cast<std::uint8_t>(std::clamp(std::lround(ramp + wave + noise), 0L, 255L));
      }
    }
  }
  return image;
}

std::vector<std::uint8_t> make_jpeg(const cv::Mat& pixels, const JpegOptions& options) {
  jpeg::JpegErrors errors;
  jpeg::Encoder encoder(errors);
  std::vector<std::uint8_t> out;
  std::vector<jpeg_scan_info> scans;  // before the setjmp, like everything with a destructor
  if (setjmp(errors.jump)) throw std::runtime_error(std::string("make_jpeg: ") + errors.message);
  encoder.create(out, 0);
  jpeg_compress_struct& info = encoder.info;
  info.image_width = static_cast<JDIMENSION>(pixels.cols);
  info.image_height = static_cast<JDIMENSION>(pixels.rows);
  info.input_components = pixels.channels();
  switch (options.kind) {
    case JpegKind::kGray: info.in_color_space = JCS_GRAYSCALE; break;
    case JpegKind::kCmyk:
    case JpegKind::kYcck: info.in_color_space = JCS_CMYK; break;
    default: info.in_color_space = JCS_EXT_BGR; break;
  }
  jpeg_set_defaults(&info);
  if (options.kind == JpegKind::kCmyk) jpeg_set_colorspace(&info, JCS_CMYK);
  if (options.kind == JpegKind::kYcck) jpeg_set_colorspace(&info, JCS_YCCK);
  jpeg_set_quality(&info, options.quality, TRUE);
  const bool ycc = options.kind == JpegKind::kYcc420 || options.kind == JpegKind::kYcc422 ||
                   options.kind == JpegKind::kYcc444 || options.kind == JpegKind::kYcck;
  if (ycc) {
    const int h = options.kind == JpegKind::kYcc444 ? 1 : 2;
    const int v = (options.kind == JpegKind::kYcc420 || options.kind == JpegKind::kYcck) ? 2 : 1;
    info.comp_info[0].h_samp_factor = h;
    info.comp_info[0].v_samp_factor = v;
    for (int c = 1; c < info.num_components; ++c) {
      info.comp_info[c].h_samp_factor = 1;
      info.comp_info[c].v_samp_factor = 1;
    }
    if (options.kind == JpegKind::kYcck) {  // K at full resolution, like Y
      info.comp_info[3].h_samp_factor = h;
      info.comp_info[3].v_samp_factor = v;
    }
  }
  if (options.progressive) jpeg_simple_progression(&info);
  if (options.many_scans) {
    // Legal but absurd: DC, then every AC coefficient of every component alone, at two bit
    // positions (successive approximation).
    for (int refine = 0; refine < 2; ++refine) {
      jpeg_scan_info dc{};
      dc.comps_in_scan = info.num_components;
      for (int c = 0; c < info.num_components; ++c) dc.component_index[c] = c;
      dc.Ah = refine;
      dc.Al = 1 - refine;
      scans.push_back(dc);
      for (int c = 0; c < info.num_components; ++c) {
        for (int k = 1; k < DCTSIZE2; ++k) {
          jpeg_scan_info ac{};
          ac.comps_in_scan = 1;
          ac.component_index[0] = c;
          ac.Ss = ac.Se = k;
          ac.Ah = refine;
          ac.Al = 1 - refine;
          scans.push_back(ac);
        }
      }
    }
    info.scan_info = scans.data();
    info.num_scans = static_cast<int>(scans.size());
  }
  info.restart_in_rows = options.restart_rows;
  jpeg_start_compress(&info, TRUE);
  if (options.markers) {
    static const char kExif[] = "Exif\0\0MM\0*\0\0\0\x08\0\0";
    jpeg_write_marker(&info, JPEG_APP0 + 1, reinterpret_cast<const JOCTET*>(kExif), sizeof kExif - 1);
    static const char kComment[] = "privprobe fixture comment";
    jpeg_write_marker(&info, JPEG_COM, reinterpret_cast<const JOCTET*>(kComment), sizeof kComment - 1);
  }
  while (info.next_scanline < info.image_height) {
    JSAMPROW row = const_cast<std::uint8_t*>(pixels.ptr<std::uint8_t>(static_cast<int>(info.next_scanline)));
    jpeg_write_scanlines(&info, &row, 1);
  }
  jpeg_finish_compress(&info);
  return out;
}

cv::Mat decode_jpeg_plain(const std::vector<std::uint8_t>& bytes, bool fancy_upsampling) {
  jpeg::JpegErrors errors;
  jpeg::Decoder decoder(errors);
  cv::Mat image;
  if (setjmp(errors.jump)) throw std::runtime_error(std::string("decode_jpeg_plain: ") + errors.message);
  decoder.create();
  jpeg_decompress_struct& info = decoder.info;
  jpeg_mem_src(&info, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&info, TRUE);
  info.do_fancy_upsampling = fancy_upsampling ? TRUE : FALSE;
  if (info.num_components == 4) info.out_color_space = JCS_CMYK;
  jpeg_start_decompress(&info);
  image.create(static_cast<int>(info.output_height), static_cast<int>(info.output_width),
               CV_8UC(info.output_components));
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = image.ptr<std::uint8_t>(static_cast<int>(info.output_scanline));
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  return image;
}

std::vector<std::pair<int, std::string>> jpeg_markers(const std::vector<std::uint8_t>& bytes) {
  jpeg::JpegErrors errors;
  jpeg::Decoder decoder(errors);
  std::vector<std::pair<int, std::string>> markers;
  if (setjmp(errors.jump)) throw std::runtime_error(std::string("jpeg_markers: ") + errors.message);
  decoder.create();
  jpeg_mem_src(&decoder.info, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg::save_all_markers(&decoder.info);
  jpeg_read_header(&decoder.info, TRUE);
  for (jpeg_saved_marker_ptr m = decoder.info.marker_list; m != nullptr; m = m->next) {
    markers.emplace_back(m->marker, std::string(reinterpret_cast<const char*>(m->data), m->data_length));
  }
  return markers;
}

std::vector<int> jpeg_quant_tables(const std::vector<std::uint8_t>& bytes) {
  jpeg::JpegErrors errors;
  jpeg::Decoder decoder(errors);
  std::vector<int> values;
  if (setjmp(errors.jump)) throw std::runtime_error(std::string("jpeg_quant_tables: ") + errors.message);
  decoder.create();
  jpeg_mem_src(&decoder.info, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&decoder.info, TRUE);
  for (int t = 0; t < NUM_QUANT_TBLS; ++t) {
    const JQUANT_TBL* table = decoder.info.quant_tbl_ptrs[t];
    if (table == nullptr) continue;
    for (int k = 0; k < DCTSIZE2; ++k) values.push_back(table->quantval[k]);
  }
  return values;
}

}  // namespace privprobe::test
