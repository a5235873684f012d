/* The benchmark model shapes, one definition for every benchmark: Config
 * fields in order (dim, layers, heads, kv heads, ffn, vocab, seq_len, rope
 * theta, norm eps, tied), then the micro-batch B x T a step runs.
 *   S  dim 256, 4 layers,  5.2M parameters
 *   M  dim 512, 8 layers, 33.6M parameters */
#ifndef PLATEAU_BENCH_SHAPES_H
#define PLATEAU_BENCH_SHAPES_H

#define BENCH_SHAPE_S {"S", {256, 4, 4, 2, 768, 4096, 256, 10000.f, 1e-5f, 0}, 8, 256}
#define BENCH_SHAPE_M {"M", {512, 8, 8, 4, 1536, 8192, 256, 10000.f, 1e-5f, 0}, 8, 256}

#endif
