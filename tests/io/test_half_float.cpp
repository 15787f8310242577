// F16 and BF16 conversions: exhaustive over every 16-bit pattern, and against a brute-force
// "nearest representable, ties to even" check over a sweep of float bit patterns.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "io/dtype.h"
#include "io/half_float.h"

namespace privprobe {
namespace {

bool is_f16_nan(std::uint16_t h) { return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0; }
bool is_bf16_nan(std::uint16_t b) { return (b & 0x7f80u) == 0x7f80u && (b & 0x7fu) != 0; }

// True when `chosen` is the nearest of the representable values around x, ties to even.
// Magnitudes of one sign are ordered like their bit patterns, so the neighbours are +-1.
template <typename Decode>
::testing::AssertionResult is_nearest_even(float x, std::uint16_t chosen, std::uint16_t max_finite, Decode decode) {
  const double target = x;
  const double chosen_value = decode(chosen);
  const std::uint16_t sign = chosen & 0x8000u;
  const std::uint16_t magnitude = chosen & 0x7fffu;
  for (int step : {-1, 1}) {
    const int neighbour = static_cast<int>(magnitude) + step;
    if (neighbour < 0 || neighbour > max_finite) continue;
    const auto other = static_cast<std::uint16_t>(sign | neighbour);
    const double other_value = decode(other);
    const double d_chosen = std::fabs(chosen_value - target);
    const double d_other = std::fabs(other_value - target);
    if (d_other < d_chosen || (d_other == d_chosen && (magnitude & 1u))) {
      return ::testing::AssertionFailure() << "x=" << x << " (bits 0x" << std::hex << float_bits(x) << ") gave 0x"
                                           << chosen << " but 0x" << other << " is nearer or even";
    }
  }
  return ::testing::AssertionSuccess();
}

TEST(HalfFloat, F16WideningIsExactAndNarrowingInvertsIt) {
  for (std::uint32_t bits = 0; bits <= 0xffffu; ++bits) {
    const auto h = static_cast<std::uint16_t>(bits);
    const float f = f16_to_f32(h);
    if (is_f16_nan(h)) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << bits;
      const std::uint16_t back = f32_to_f16(f);
      ASSERT_TRUE(is_f16_nan(back)) << std::hex << bits;
      ASSERT_EQ(back & 0x8000u, h & 0x8000u);
      ASSERT_NE(back & 0x0200u, 0u) << "NaN must come back quiet";
    } else {
      ASSERT_EQ(f32_to_f16(f), h) << std::hex << bits;
    }
  }
}

TEST(HalfFloat, F16KnownValues) {
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_f16(0.0f), 0x0000);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);                         // largest finite
  EXPECT_EQ(f32_to_f16(65519.99f), 0x7bff);                        // below the halfway point
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);                         // halfway, odd -> up to Inf
  EXPECT_EQ(f32_to_f16(1e10f), 0x7c00);
  EXPECT_EQ(f32_to_f16(-std::numeric_limits<float>::infinity()), 0xfc00);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);           // smallest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);           // tie -> even (zero)
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0000001f, -25)), 0x0001);     // just above the tie
  EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);           // 1.5 units: tie -> even (2)
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -14) - std::ldexp(1.0f, -25)), 0x0400);  // rounds up to min normal
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);    // tie, even stays
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);  // tie, odd rounds up
  EXPECT_TRUE(is_f16_nan(f32_to_f16(std::numeric_limits<float>::quiet_NaN())));
  // A signalling NaN whose payload sits only in the low bits must not turn into Inf.
  EXPECT_TRUE(is_f16_nan(f32_to_f16(float_from_bits(0x7f800001u))));
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
  EXPECT_TRUE(std::signbit(f16_to_f32(0x8000)));
}

TEST(HalfFloat, F16NarrowingIsNearestEvenOverAFloatSweep) {
  const auto decode = [](std::uint16_t h) { return static_cast<double>(f16_to_f32(h)); };
  for (std::uint64_t bits = 0; bits <= 0xffffffffull; bits += 4093) {  // ~1M patterns, every exponent
    const float x = float_from_bits(static_cast<std::uint32_t>(bits));
    const std::uint16_t h = f32_to_f16(x);
    if (std::isnan(x)) {
      ASSERT_TRUE(is_f16_nan(h));
      continue;
    }
    if (std::fabs(x) >= 65520.0f) {
      ASSERT_EQ(h & 0x7fffu, 0x7c00u) << x;
      continue;
    }
    ASSERT_TRUE(is_nearest_even(x, h, 0x7bff, decode));
#ifdef __FLT16_MAX__
    const _Float16 reference = static_cast<_Float16>(x);  // the compiler's own conversion
    std::uint16_t reference_bits;
    std::memcpy(&reference_bits, &reference, 2);
    ASSERT_EQ(h, reference_bits) << x;
#endif
  }
}

TEST(HalfFloat, Bf16WideningIsExactAndNarrowingInvertsIt) {
  for (std::uint32_t bits = 0; bits <= 0xffffu; ++bits) {
    const auto b = static_cast<std::uint16_t>(bits);
    const float f = bf16_to_f32(b);
    if (is_bf16_nan(b)) {
      ASSERT_TRUE(std::isnan(f));
      ASSERT_TRUE(is_bf16_nan(f32_to_bf16(f)));
    } else {
      ASSERT_EQ(f32_to_bf16(f), b) << std::hex << bits;
    }
  }
}

TEST(HalfFloat, Bf16KnownValues) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_bf16(float_from_bits(0x3f808000u)), 0x3f80);  // tie, even stays
  EXPECT_EQ(f32_to_bf16(float_from_bits(0x3f818000u)), 0x3f82);  // tie, odd rounds up
  EXPECT_EQ(f32_to_bf16(float_from_bits(0x3f808001u)), 0x3f81);  // above the tie
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds past the largest finite
  EXPECT_EQ(f32_to_bf16(float_from_bits(0x7f7f7fffu)), 0x7f7f);
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(f32_to_bf16(float_from_bits(0x00018000u)), 0x0002);  // subnormal tie, odd rounds up
  EXPECT_TRUE(is_bf16_nan(f32_to_bf16(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_TRUE(is_bf16_nan(f32_to_bf16(float_from_bits(0x7f800001u))));  // payload only in low bits
  EXPECT_TRUE(is_bf16_nan(f32_to_bf16(float_from_bits(0xffffffffu))));  // no carry into the sign
  EXPECT_EQ(bf16_to_f32(0x4049), float_from_bits(0x40490000u));
}

TEST(HalfFloat, Bf16NarrowingIsNearestEvenOverAFloatSweep) {
  const auto decode = [](std::uint16_t b) { return static_cast<double>(bf16_to_f32(b)); };
  for (std::uint64_t bits = 0; bits <= 0xffffffffull; bits += 4093) {
    const float x = float_from_bits(static_cast<std::uint32_t>(bits));
    const std::uint16_t b = f32_to_bf16(x);
    if (std::isnan(x)) {
      ASSERT_TRUE(is_bf16_nan(b));
      continue;
    }
    if ((b & 0x7fffu) == 0x7f80u) {  // Inf: x must be Inf or at least halfway past the largest finite
      ASSERT_GE(std::fabs(static_cast<double>(x)), static_cast<double>(bf16_to_f32(0x7f7f)) + std::ldexp(1.0, 127 - 8));
      continue;
    }
    ASSERT_TRUE(is_nearest_even(x, b, 0x7f7f, decode));
  }
}

TEST(HalfFloat, ArrayVersionsMatchScalars) {
  const float in[] = {0.1f, -3.5f, 65536.0f, 1e-7f, std::numeric_limits<float>::infinity()};
  std::uint16_t half[5];
  std::uint16_t brain[5];
  float back[5];
  f32_to_f16(in, half, 5);
  f32_to_bf16(in, brain, 5);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(half[i], f32_to_f16(in[i]));
    EXPECT_EQ(brain[i], f32_to_bf16(in[i]));
  }
  f16_to_f32(half, back, 5);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(float_bits(back[i]), float_bits(f16_to_f32(half[i])));
  bf16_to_f32(brain, back, 5);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(float_bits(back[i]), float_bits(bf16_to_f32(brain[i])));
}

TEST(Dtype, NamesSizesAndParsing) {
  for (Dtype dtype : kAllDtypes) {
    EXPECT_EQ(parse_dtype(dtype_name(dtype)), dtype);
    const std::size_t size = dtype_size(dtype);
    EXPECT_TRUE(size == 1 || size == 2 || size == 4 || size == 8);
  }
  EXPECT_EQ(dtype_size(Dtype::BF16), 2u);
  EXPECT_EQ(dtype_size(Dtype::I64), 8u);
  EXPECT_EQ(dtype_size(Dtype::BOOL), 1u);
  EXPECT_FALSE(parse_dtype("f32"));  // names are case-sensitive, as in the format
  EXPECT_FALSE(parse_dtype("F17"));
  EXPECT_FALSE(parse_dtype(""));
}

}  // namespace
}  // namespace privprobe
