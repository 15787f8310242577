#include "image/jpeg_support.h"

#include <cstdio>
#include <cstring>
#include <new>

namespace privprobe::jpeg {
namespace {

JpegErrors& errors_of(j_common_ptr info) { return *reinterpret_cast<JpegErrors*>(info->err); }

[[noreturn]] void jump_with_message(j_common_ptr info) {
  JpegErrors& errors = errors_of(info);
  (*info->err->format_message)(info, errors.message);
  std::longjmp(errors.jump, 1);
}

void on_error_exit(j_common_ptr info) { jump_with_message(info); }

// Warnings libjpeg emits for damaged data before carrying on with grey or garbage pixels.
bool is_damage_warning(int code) {
  switch (code) {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_ARITH_BAD_CODE:
    case JWRN_MUST_RESYNC:
    case JWRN_NOT_SEQUENTIAL:
    case JWRN_BOGUS_PROGRESSION:
      return true;
    default:
      return false;
  }
}

void on_emit_message(j_common_ptr info, int level) {
  // level -1 is a warning; 0 and up are trace messages. Benign warnings (an unknown JFIF
  // revision, stray bytes between markers) are ignored, as every other decoder does.
  if (level < 0 && is_damage_warning(info->err->msg_code)) jump_with_message(info);
}

void on_output_message(j_common_ptr) {}  // never print: errors reach the caller as exceptions

void on_progress(j_common_ptr info) {
  if (!info->is_decompressor) return;
  auto* decompress = reinterpret_cast<j_decompress_ptr>(info);
  if (decompress->input_scan_number > kMaxScans) {
    JpegErrors& errors = errors_of(info);
    std::snprintf(errors.message, sizeof errors.message, "more than %d scans (damaged or crafted file)",
                  kMaxScans);
    std::longjmp(errors.jump, 1);
  }
}

void destination_init(j_compress_ptr info) {
  auto* dest = reinterpret_cast<VectorDestination*>(info->dest);
  if (dest->out->size() < 4096) dest->out->resize(dest->out->capacity() < 4096 ? 4096 : dest->out->capacity());
  dest->pub.next_output_byte = dest->out->data();
  dest->pub.free_in_buffer = dest->out->size();
}

boolean destination_grow(j_compress_ptr info) {
  auto* dest = reinterpret_cast<VectorDestination*>(info->dest);
  // libjpeg calls this when the buffer is full (free_in_buffer == 0), so all of it is written.
  const std::size_t used = dest->out->size();
  bool grown = true;
  try {
    dest->out->resize(used * 2);
  } catch (const std::bad_alloc&) {
    grown = false;
  }
  if (!grown) ERREXIT1(info, JERR_OUT_OF_MEMORY, 0);  // outside the catch: longjmp must not leave one
  dest->pub.next_output_byte = dest->out->data() + used;
  dest->pub.free_in_buffer = dest->out->size() - used;
  return TRUE;
}

void destination_term(j_compress_ptr info) {
  auto* dest = reinterpret_cast<VectorDestination*>(info->dest);
  dest->out->resize(dest->out->size() - dest->pub.free_in_buffer);
}

}  // namespace

JpegErrors::JpegErrors() {
  jpeg_std_error(&pub);
  pub.error_exit = on_error_exit;
  pub.emit_message = on_emit_message;
  pub.output_message = on_output_message;
  std::memset(&progress, 0, sizeof progress);
  progress.progress_monitor = on_progress;
  message[0] = '\0';
}

Decoder::Decoder(JpegErrors& errors) : errors_(errors) {
  std::memset(&info, 0, sizeof info);
  info.err = &errors_.pub;
}

Decoder::~Decoder() { jpeg_destroy_decompress(&info); }  // no-op when create() never ran

void Decoder::create() {
  jpeg_create_decompress(&info);
  info.progress = &errors_.progress;
}

Encoder::Encoder(JpegErrors& errors) : errors_(errors) {
  std::memset(&info, 0, sizeof info);
  info.err = &errors_.pub;
  std::memset(&destination_.pub, 0, sizeof destination_.pub);
}

Encoder::~Encoder() { jpeg_destroy_compress(&info); }

void Encoder::create(std::vector<std::uint8_t>& out, std::size_t reserve) {
  out.clear();
  out.reserve(reserve < 4096 ? 4096 : reserve);
  jpeg_create_compress(&info);
  destination_.out = &out;
  destination_.pub.init_destination = destination_init;
  destination_.pub.empty_output_buffer = destination_grow;
  destination_.pub.term_destination = destination_term;
  info.dest = &destination_.pub;
}

void save_all_markers(j_decompress_ptr info) {
  jpeg_save_markers(info, JPEG_COM, 0xFFFF);
  for (int m = 0; m < 16; ++m) jpeg_save_markers(info, JPEG_APP0 + m, 0xFFFF);
}

bool supported_color_space(J_COLOR_SPACE space, int components) {
  switch (space) {
    case JCS_GRAYSCALE:
      return components == 1;
    case JCS_YCbCr:
    case JCS_RGB:
      return components == 3;
    case JCS_CMYK:
    case JCS_YCCK:
      return components == 4;
    default:
      return false;
  }
}

}  // namespace privprobe::jpeg
