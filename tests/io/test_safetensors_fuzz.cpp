// Mutations of a valid file: every variant must either parse into a layout that is safe to use
// or throw FormatError; nothing else (no crash, no other exception, no read out of bounds: the
// sanitizer build runs this too, and each variant sits in a heap block of exactly its size).
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>

#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "support/test_support.h"
#include "util/error.h"
#include "util/rng.h"

namespace privprobe {
namespace {

std::string valid_file() {
  static const std::string a(24, 'a'), b(6, 'b'), c(3, 'c'), d(8, 'd');
  return serialize_safetensors({{"layer.0.weight", Dtype::F32, {2, 3}, a.data(), a.size()},
                                {"layer.0.bias", Dtype::BF16, {3}, b.data(), b.size()},
                                {"mask", Dtype::BOOL, {3}, c.data(), c.size()},
                                {"step", Dtype::I64, {}, d.data(), d.size()},
                                {"empty", Dtype::F16, {0}, nullptr, 0}},
                               {{"format", "pt"}});
}

std::string mutate(const std::string& original, Rng& rng) {
  std::string bytes = original;
  const std::uint64_t header_end = 8 + (static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[0])) |
                                        static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[1])) << 8);
  switch (rng.below(6)) {
    case 0: {  // flip a few bits anywhere
      const std::uint64_t flips = 1 + rng.below(4);
      for (std::uint64_t i = 0; i < flips; ++i) bytes[rng.below(bytes.size())] ^= static_cast<char>(1u << rng.below(8));
      break;
    }
    case 1:  // truncate
      bytes.resize(rng.below(bytes.size()));
      break;
    case 2: {  // change a digit in the header: offsets and dimensions move
      for (int tries = 0; tries < 50; ++tries) {
        const std::size_t i = 8 + rng.below(header_end - 8);
        if (bytes[i] >= '0' && bytes[i] <= '9') {
          bytes[i] = static_cast<char>('0' + rng.below(10));
          break;
        }
      }
      break;
    }
    case 3:  // replace a header byte with JSON punctuation
      bytes[8 + rng.below(header_end - 8)] = "{}[]\",:-0 \\"[rng.below(11)];
      break;
    case 4:  // a random length prefix byte
      bytes[rng.below(8)] = static_cast<char>(rng.below(256));
      break;
    default:  // insert or delete a byte, shifting everything after it
      if (rng.bernoulli(0.5)) {
        bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(rng.below(bytes.size())), static_cast<char>(rng.below(256)));
      } else {
        bytes.erase(bytes.begin() + static_cast<std::ptrdiff_t>(rng.below(bytes.size())));
      }
  }
  return bytes;
}

TEST(SafetensorsFuzz, MutatedFilesParseSafelyOrThrowFormatError) {
  const std::string original = valid_file();
  ASSERT_NO_THROW(parse_safetensors(reinterpret_cast<const std::uint8_t*>(original.data()), original.size(), "x"));
  Rng rng(20250101);
  test::TempDir dir("st-fuzz");
  int accepted = 0;
  for (int round = 0; round < 2000; ++round) {
    const std::string bytes = mutate(original, rng);
    // An exact-size heap copy so that any read past the end is caught by the sanitizer build.
    std::unique_ptr<std::uint8_t[]> exact(new std::uint8_t[bytes.size() + 1]);
    std::memcpy(exact.get(), bytes.data(), bytes.size());
    try {
      const SafetensorsHeader header = parse_safetensors(exact.get(), bytes.size(), "fuzz");
      ++accepted;
      // What was accepted must be safe to use: every range inside the data, which fits the file.
      ASSERT_EQ(header.data_offset + header.data_size, bytes.size());
      std::uint64_t total = 0;
      for (const TensorInfo& info : header.tensors) {
        ASSERT_LE(info.begin, info.end);
        ASSERT_LE(info.end, header.data_size);
        ASSERT_EQ(info.byte_size(), static_cast<std::uint64_t>(info.numel()) * dtype_size(info.dtype));
        total += info.byte_size();
      }
      ASSERT_EQ(total, header.data_size);
    } catch (const FormatError& e) {
      ASSERT_NE(std::string(e.what()).find("fuzz"), std::string::npos) << e.what();
    }
    // Every 50th variant also goes through a real file and its mapping.
    if (round % 50 == 0) {
      test::write_text(dir / "f.safetensors", bytes);
      try {
        const SafetensorsFile file(dir / "f.safetensors");
        for (const TensorInfo& info : file.tensors()) {
          const ByteView view = file.data(info);
          volatile std::uint8_t sink = 0;
          for (std::size_t i = 0; i < view.size; ++i) sink = sink ^ view.data[i];
        }
      } catch (const FormatError&) {
      }
    }
  }
  // Some mutations (a digit in a name, a bit in the data) leave the file valid: the test must see both outcomes.
  EXPECT_GT(accepted, 0);
  EXPECT_LT(accepted, 2000);
}

}  // namespace
}  // namespace privprobe
