// libjpeg plumbing shared by image_file.cpp and jpeg_edit.cpp (internal to the image module).
//
// libjpeg reports errors by calling error_exit, whose default calls exit(). Here every codec
// object of one operation shares a JpegErrors whose error_exit longjmps back to a setjmp in the
// caller, which then throws FormatError. The warnings that mean the data is truncated or corrupt
// (libjpeg only warns and fills the rest grey) are treated as errors too.
//
// The longjmp rule that keeps this safe: between the setjmp and the end of the libjpeg calls, no
// frame that libjpeg can jump across may own an object with a destructor. Everything that needs
// cleaning up (codec objects, buffers) is declared before the setjmp, in the caller's frame.
#pragma once

#include <csetjmp>
#include <cstddef>
#include <cstdint>
#include <cstdio>  // jpeglib.h needs FILE and size_t declared first
#include <vector>

#include <jpeglib.h>
#include <jerror.h>  // message codes (JWRN_*, JERR_*) and ERREXIT

namespace privprobe::jpeg {

// More scans than any real progressive JPEG has (they use about 10); a crafted file with
// thousands of tiny scans would otherwise cost minutes.
inline constexpr int kMaxScans = 256;

struct JpegErrors {
  jpeg_error_mgr pub;  // first member: libjpeg hands back &pub and we cast it to JpegErrors
  jpeg_progress_mgr progress;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX + 64];

  JpegErrors();
  JpegErrors(const JpegErrors&) = delete;
  JpegErrors& operator=(const JpegErrors&) = delete;
};

// A decompressor attached to `errors`. create() must run after the setjmp is armed (creation
// allocates and can fail); the destructor is safe whether or not create() ran.
class Decoder {
 public:
  explicit Decoder(JpegErrors& errors);
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;
  void create();
  jpeg_decompress_struct info;

 private:
  JpegErrors& errors_;
};

// Where a compressor writes: a vector that grows as libjpeg fills it.
struct VectorDestination {
  jpeg_destination_mgr pub;  // first member, as above
  std::vector<std::uint8_t>* out = nullptr;
};

class Encoder {
 public:
  explicit Encoder(JpegErrors& errors);
  ~Encoder();
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;
  // Creates the compressor writing into `out` (cleared; `reserve` bytes preallocated).
  void create(std::vector<std::uint8_t>& out, std::size_t reserve);
  jpeg_compress_struct info;

 private:
  JpegErrors& errors_;
  VectorDestination destination_;
};

// Saves every APPn and COM marker of the source (call before jpeg_read_header).
void save_all_markers(j_decompress_ptr info);

// True for the colour spaces the module reads and edits: gray, YCbCr, RGB, CMYK, YCCK.
bool supported_color_space(J_COLOR_SPACE space, int components);

}  // namespace privprobe::jpeg
