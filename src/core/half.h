/* 16-bit floating-point encodings of float32 values, for release files:
 * bfloat16 (the top 16 bits of an IEEE-754 binary32) and IEEE-754 binary16.
 * Both round to nearest, ties to even; NaN stays NaN (quiet). binary16
 * overflows to +-infinity above 65504 and keeps subnormals down to 2^-24;
 * smaller magnitudes become signed zero. */
#ifndef PLATEAU_HALF_H
#define PLATEAU_HALF_H

#include <stdint.h>

uint16_t f32_to_bf16(float x);
uint16_t f32_to_f16(float x);
float    bf16_to_f32(uint16_t h);
float    f16_to_f32(uint16_t h);

#endif
