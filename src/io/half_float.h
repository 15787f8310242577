// IEEE half (F16) and bfloat16 (BF16) conversions, bit-exact and without hardware support.
// Narrowing rounds to nearest, ties to even; overflow gives infinity; subnormals are kept
// (F16 has them, BF16 shares F32's exponent range); NaN stays NaN (quiet, sign and top payload
// bits kept). Widening is exact. Values travel as their raw 16-bit patterns (uint16_t).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace privprobe {

inline std::uint32_t float_bits(float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

inline float float_from_bits(std::uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

inline std::uint16_t f32_to_f16(float value) {
  const std::uint32_t bits = float_bits(value);
  const std::uint32_t sign = (bits >> 16) & 0x8000u;
  const std::uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) {  // NaN: force the quiet bit so the payload never becomes Inf
    return static_cast<std::uint16_t>(sign | 0x7e00u | ((magnitude >> 13) & 0x3ffu));
  }
  // 65520 is halfway between the largest half (65504, odd mantissa) and 2^16: ties go up to Inf.
  if (magnitude >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);
  if (magnitude < 0x38800000u) {  // below 2^-14: a half subnormal (units of 2^-24) or zero
    const std::uint32_t exponent = magnitude >> 23;
    const std::uint32_t shift = 126u - exponent;  // value = mantissa * 2^-24 / 2^shift
    if (shift > 24u) return static_cast<std::uint16_t>(sign);
    const std::uint32_t mantissa = (magnitude & 0x7fffffu) | 0x800000u;
    std::uint32_t result = mantissa >> shift;
    const std::uint32_t remainder = mantissa & ((1u << shift) - 1u);
    const std::uint32_t halfway = 1u << (shift - 1u);
    if (remainder > halfway || (remainder == halfway && (result & 1u))) ++result;
    return static_cast<std::uint16_t>(sign | result);  // may carry into the smallest normal: correct
  }
  // Normal: rebias the exponent (127 -> 15) and round away the low 13 mantissa bits.
  std::uint32_t result = (magnitude - 0x38000000u) >> 13;
  const std::uint32_t remainder = magnitude & 0x1fffu;
  if (remainder > 0x1000u || (remainder == 0x1000u && (result & 1u))) ++result;
  return static_cast<std::uint16_t>(sign | result);
}

inline float f16_to_f32(std::uint16_t half) {
  const std::uint32_t sign = static_cast<std::uint32_t>(half & 0x8000u) << 16;
  const std::uint32_t exponent = (half >> 10) & 0x1fu;
  const std::uint32_t mantissa = half & 0x3ffu;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in float.
    const float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-08f;
    return float_from_bits(float_bits(magnitude) | sign);
  }
  if (exponent == 31) return float_from_bits(sign | 0x7f800000u | (mantissa << 13));  // Inf, NaN
  return float_from_bits(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

inline std::uint16_t f32_to_bf16(float value) {
  const std::uint32_t bits = float_bits(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) {  // NaN: truncate, force quiet
    return static_cast<std::uint16_t>((bits >> 16) | 0x0040u);
  }
  // Adding 0x7fff plus the lowest kept bit rounds to nearest even; a carry past the largest
  // finite value lands exactly on Inf.
  const std::uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<std::uint16_t>((bits + rounding) >> 16);
}

inline float bf16_to_f32(std::uint16_t bf16) { return float_from_bits(static_cast<std::uint32_t>(bf16) << 16); }

// Array versions (n elements; input and output must not overlap).
void f32_to_f16(const float* in, std::uint16_t* out, std::size_t n);
void f16_to_f32(const std::uint16_t* in, float* out, std::size_t n);
void f32_to_bf16(const float* in, std::uint16_t* out, std::size_t n);
void bf16_to_f32(const std::uint16_t* in, float* out, std::size_t n);

}  // namespace privprobe
